import { hostname } from "node:os";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { LinkcryptError } from "../errors.js";
import { KEY_CHECK_PLAIN, seal, StateKeyError, unseal } from "./cipher.js";

/**
 * What apply and rotate must not lose, shared by every directory, user and controller that works on one inventory:
 * a journal of every step, the secrets linkcrypt generated (sealed with AES-256-GCM under the state key), and a lock
 * so that two runs never act at once. One contract, two backends: embedded SQLite (the default) and PostgreSQL
 * (for teams). The backend stores rows; this class seals secrets, checks the key and runs the lock protocol.
 */
export interface JournalEntry {
  at: string;
  run: string;
  step: string;
  target: string;
  state: "started" | "done" | "failed" | "rolled-back";
  detail?: string;
}

export interface LockHolder {
  owner: string;
  pid: number;
  host: string;
  since: string;
  token: string;
  /** Last sign of life, ms since the epoch (SQLite's lease; PostgreSQL's lock is the session itself). */
  heartbeat: number;
}

/** This process as a lock holder: a fresh token, now as the start and the first heartbeat. */
export function newLockHolder(owner: string): LockHolder {
  const now = new Date();
  return { owner, pid: process.pid, host: hostname(), since: now.toISOString(), token: randomUUID(), heartbeat: now.getTime() };
}

export type LockAttempt = { acquired: true; tookOverFrom?: LockHolder } | { acquired: false; holder: LockHolder | undefined };

export interface SealedRow {
  name: string;
  sealed: string;
  createdAt: string;
}

/** One atomic write: all of it is stored, or none of it. */
export interface Batch {
  journal?: JournalEntry[];
  secrets?: SealedRow[];
  meta?: Record<string, string>;
}

export interface StateBackend {
  readonly kind: "sqlite" | "postgres";
  /** Where the state is, for messages: a file path or a URL without its password. */
  readonly where: string;
  tryLock(me: LockHolder, leaseMs: number): Promise<LockAttempt>;
  heartbeat(token: string): Promise<void>;
  unlock(token: string): Promise<void>;
  /** Release at once, synchronously where the backend can (a second Ctrl-C); a closed session does it for PostgreSQL. */
  unlockNow(token: string): void;
  write(b: Batch): Promise<void>;
  journal(): Promise<JournalEntry[]>;
  getSealed(name: string): Promise<SealedRow | undefined>;
  listSecrets(): Promise<{ name: string; createdAt: string }[]>;
  deleteSecret(name: string): Promise<void>;
  getMeta(k: string): Promise<string | undefined>;
  /** Stores v unless k already has a value; returns the value k has now. */
  putMetaIfAbsent(k: string, v: string): Promise<string>;
  close(): Promise<void>;
}

/** The state key: a reference (env:, file:, secrets:) and how to read it; `create` only for the embedded default. */
export interface KeySource {
  ref: string;
  /** The 32-byte key, or undefined when the referenced key does not exist. Throws StateKeyError on a bad key. */
  read(): Buffer | undefined;
  /** Makes the key when the store has never had one (the embedded default's key file). */
  create?(): Buffer;
}

export const DEFAULT_LEASE_MS = 60_000;

export class StateStore {
  private key: Buffer | undefined;
  private token: string | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly backend: StateBackend,
    readonly ns: string,
    private readonly keySource: KeySource | undefined,
    private readonly leaseMs = DEFAULT_LEASE_MS,
  ) {}

  get where(): string {
    return `${this.backend.kind} ${this.backend.where}`;
  }

  /**
   * Takes the lock, or refuses naming who holds it (after waiting up to waitMs). A holder that is gone is taken over:
   * PostgreSQL frees a dead session's advisory lock by itself; SQLite's holder is gone when its process no longer
   * exists on this host, or when it has not renewed its lease for leaseMs.
   */
  async lock(owner: string, o: { waitMs?: number } = {}): Promise<{ tookOverFrom?: LockHolder }> {
    const me = newLockHolder(owner);
    const until = Date.now() + (o.waitMs ?? 0);
    for (;;) {
      const r = await this.backend.tryLock(me, this.leaseMs);
      if (r.acquired) {
        this.token = me.token;
        if (this.backend.kind === "sqlite") {
          this.timer = setInterval(() => void this.backend.heartbeat(me.token).catch(() => undefined), Math.max(1000, this.leaseMs / 3));
          this.timer.unref();
        }
        return r.tookOverFrom ? { tookOverFrom: r.tookOverFrom } : {};
      }
      if (Date.now() >= until) {
        const h = r.holder;
        throw new LinkcryptError(
          "E_LOCKED",
          `another run holds the state lock of ${this.where}${h ? `: ${h.owner} (pid ${h.pid} on ${h.host}, since ${h.since})` : ""}; nothing was done. ` +
            `The lock is taken over once that process is gone`,
        );
      }
      await new Promise((res) => setTimeout(res, 250));
    }
  }

  get locked(): boolean {
    return this.token !== undefined;
  }

  async unlock(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const t = this.token;
    this.token = undefined;
    if (t) await this.backend.unlock(t);
  }

  /** For an immediate exit: no await, best effort. */
  unlockNow(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.token) this.backend.unlockNow(this.token);
    this.token = undefined;
  }

  append(e: JournalEntry): Promise<void> {
    return this.backend.write({ journal: [e] });
  }

  journal(): Promise<JournalEntry[]> {
    return this.backend.journal();
  }

  /**
   * Loads the state key and checks it against the store's key check (written under the first key the store saw).
   * A missing or different key is a StateKeyError, and nothing in the store is touched.
   */
  async checkKey(): Promise<Buffer> {
    if (this.key) return this.key;
    if (!this.keySource)
      throw new StateKeyError(
        `${this.where} needs a state key to seal its secrets: give --state-key env:VAR, file:PATH, secrets:KEY or cmd:COMMAND (or set LINKCRYPT_STATE_KEY to such a reference)`,
      );
    const check = await this.backend.getMeta("key-check");
    let k = this.keySource.read();
    if (!k) {
      if (check || !this.keySource.create) {
        const n = (await this.backend.listSecrets()).length;
        throw new StateKeyError(
          `the state key ${this.keySource.ref} is missing, and ${this.where} was sealed with a key (${n} secret(s) stored); nothing was changed. Restore that key, or point --state-key at it`,
        );
      }
      k = this.keySource.create();
    }
    const aad = `${this.ns}/key-check`;
    const stored = check ?? (await this.backend.putMetaIfAbsent("key-check", seal(k, aad, KEY_CHECK_PLAIN)));
    if (unseal(k, aad, stored) !== KEY_CHECK_PLAIN)
      throw new StateKeyError(
        `the state key ${this.keySource.ref} is not the key ${this.where} was sealed with; nothing was changed. Give the right key with --state-key`,
      );
    this.key = k;
    return k;
  }

  async getSecret(name: string): Promise<string | undefined> {
    const row = await this.backend.getSealed(name);
    if (!row || row.sealed === "") return undefined;
    const k = await this.checkKey();
    const v = unseal(k, `${this.ns}/${name}`, row.sealed);
    if (v === undefined)
      throw new StateKeyError(
        `secret ${name} in ${this.where} does not open with the state key ${this.keySource?.ref}: it is damaged or was sealed with another key; nothing was changed`,
      );
    return v;
  }

  /** When a secret was stored: kept in clear beside it, so key ages need no key. */
  async secretCreatedAt(name: string): Promise<string | undefined> {
    return (await this.backend.listSecrets()).find((s) => s.name === name)?.createdAt;
  }

  /** Several secrets (and, with them, a journal entry that never holds a secret) in one transaction. */
  async putSecrets(entries: Record<string, string>, note?: JournalEntry): Promise<void> {
    const k = await this.checkKey();
    const now = new Date().toISOString();
    await this.backend.write({
      secrets: Object.entries(entries).map(([name, v]) => ({
        name,
        sealed: v === "" ? "" : seal(k, `${this.ns}/${name}`, v),
        createdAt: now,
      })),
      ...(note ? { journal: [note] } : {}),
    });
  }

  putSecret(name: string, value: string): Promise<void> {
    return this.putSecrets({ [name]: value });
  }

  deleteSecret(name: string): Promise<void> {
    return this.backend.deleteSecret(name);
  }

  async close(): Promise<void> {
    await this.unlock();
    await this.backend.close();
  }
}

/** A file: or env: or secrets: reference that must resolve to the key. */
export function referencedKey(ref: string, resolve: (ref: string) => string, derive: (material: string, ref: string) => Buffer): KeySource {
  return {
    ref,
    read() {
      let material: string;
      try {
        material = resolve(ref);
      } catch (e) {
        throw new StateKeyError(`cannot read the state key: ${(e as Error).message}; nothing was changed`);
      }
      return derive(material, ref);
    },
  };
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \([^)]*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
