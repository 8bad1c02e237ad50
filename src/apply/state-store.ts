import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LinkcryptError } from "../errors.js";

/**
 * Where apply keeps what it must not lose: a journal of every step, the secrets it generated, and a lock so two
 * applies cannot race. This file implements the embedded default (a local directory); the interface lets a shared
 * store (a database, or Redis next to Bottleneck's shared limits) replace it later.
 *
 * Journal entries are JSON lines, appended and fsync'd, so a controller killed mid-apply leaves a readable record of
 * how far it got.
 */
export interface JournalEntry {
  at: string;
  run: string;
  step: string;
  target: string;
  state: "started" | "done" | "failed" | "rolled-back";
  detail?: string;
}

export interface StateStore {
  lock(owner: string): void;
  unlock(): void;
  append(e: JournalEntry): void;
  journal(): JournalEntry[];
  /** Secrets by key, never logged; persisted with mode 0600. */
  getSecret(key: string): string | undefined;
  putSecret(key: string, value: string): void;
  /** Several secrets in one durable write. */
  putSecrets(entries: Record<string, string>): void;
}

export class DirStateStore implements StateStore {
  private readonly lockFile: string;
  private readonly journalFile: string;
  private readonly secretsFile: string;
  private locked = false;
  private cache: Record<string, string> | undefined;
  private journalFd: number | undefined;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.lockFile = join(dir, "apply.lock");
    this.journalFile = join(dir, "journal.jsonl");
    this.secretsFile = join(dir, "secrets.json");
  }

  lock(owner: string): void {
    try {
      const fd = openSync(this.lockFile, "wx", 0o600);
      writeFileSync(fd, JSON.stringify({ owner, pid: process.pid, at: new Date().toISOString() }));
      closeSync(fd);
      this.locked = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const held = JSON.parse(readFileSync(this.lockFile, "utf8")) as { owner: string; pid: number; at: string };
      if (!pidAlive(held.pid)) {
        // The holder died (killed mid-apply): take the lock over; the journal says where it stopped.
        rmSync(this.lockFile, { force: true });
        return this.lock(owner);
      }
      throw new LinkcryptError("E_LOCKED", `another apply holds the lock in ${this.dir} (pid ${held.pid}, ${held.owner}, since ${held.at})`);
    }
  }

  unlock(): void {
    if (this.locked) rmSync(this.lockFile, { force: true });
    this.locked = false;
    if (this.journalFd !== undefined) closeSync(this.journalFd);
    this.journalFd = undefined;
  }

  /** One write(2) per entry on a descriptor kept open in append mode: a crash loses at most the entry being written. */
  append(e: JournalEntry): void {
    this.journalFd ??= openSync(this.journalFile, "a", 0o600);
    appendFileSync(this.journalFd, `${JSON.stringify(e)}\n`);
  }

  journal(): JournalEntry[] {
    if (!existsSync(this.journalFile)) return [];
    return readFileSync(this.journalFile, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as JournalEntry);
  }

  private secrets(): Record<string, string> {
    if (this.cache) return this.cache;
    if (!existsSync(this.secretsFile)) return (this.cache = {});
    if ((statSync(this.secretsFile).mode & 0o077) !== 0) throw new LinkcryptError("E_INPUT", `${this.secretsFile} is readable by group or others; chmod 600 it`);
    return (this.cache = JSON.parse(readFileSync(this.secretsFile, "utf8")) as Record<string, string>);
  }

  getSecret(key: string): string | undefined {
    return this.secrets()[key];
  }

  putSecret(key: string, value: string): void {
    this.putSecrets({ [key]: value });
  }

  putSecrets(entries: Record<string, string>): void {
    const all = { ...this.secrets(), ...entries };
    const tmp = `${this.secretsFile}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(all, null, 2), { mode: 0o600 });
    renameSync(tmp, this.secretsFile);
    this.cache = all;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \([^)]*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}
