import Database from "better-sqlite3";
import { chmodSync, existsSync, mkdirSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { LinkcryptError } from "../errors.js";
import { pidAlive, type Batch, type JournalEntry, type LockAttempt, type LockHolder, type SealedRow, type StateBackend } from "./store.js";

/**
 * The embedded backend: one SQLite file (WAL, mode 0600) through better-sqlite3. Every write is one transaction;
 * the lock is a row taken in a BEGIN IMMEDIATE transaction and kept alive by a heartbeat (the lease).
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS lc_meta (ns TEXT NOT NULL, k TEXT NOT NULL, v TEXT NOT NULL, PRIMARY KEY (ns, k));
CREATE TABLE IF NOT EXISTS lc_journal (id INTEGER PRIMARY KEY AUTOINCREMENT, ns TEXT NOT NULL, at TEXT NOT NULL, run TEXT NOT NULL,
  step TEXT NOT NULL, target TEXT NOT NULL, state TEXT NOT NULL, detail TEXT);
CREATE TABLE IF NOT EXISTS lc_secrets (ns TEXT NOT NULL, name TEXT NOT NULL, sealed TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (ns, name));
CREATE TABLE IF NOT EXISTS lc_lock (ns TEXT PRIMARY KEY, owner TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL, token TEXT NOT NULL,
  since TEXT NOT NULL, heartbeat INTEGER NOT NULL);
`;

/**
 * 0600, or 0660 in a directory its group may write (a team's `install -d -m 2770 -g GROUP /var/lib/linkcrypt`), so
 * that every member can open the state the first one made. SQLite gives its -wal and -shm files the same mode.
 */
export function stateFileMode(dir: string): number {
  return (statSync(dir).mode & 0o070) === 0o070 ? 0o660 : 0o600;
}

/** mkdir -p, one level at a time: Node's recursive mkdir never returns under /proc. */
function ensureDir(d: string): void {
  if (existsSync(d)) return;
  const parent = dirname(d);
  if (parent !== d) ensureDir(parent);
  mkdirSync(d, { mode: 0o700 });
}

interface LockRow {
  owner: string;
  pid: number;
  host: string;
  token: string;
  since: string;
  heartbeat: number;
}

export class SqliteBackend implements StateBackend {
  readonly kind = "sqlite" as const;
  private readonly db: Database.Database;

  constructor(
    readonly where: string,
    private readonly ns: string,
  ) {
    try {
      ensureDir(dirname(where));
      const fresh = !existsSync(where);
      this.db = new Database(where, { timeout: 10_000 });
      if (fresh) chmodSync(where, stateFileMode(dirname(where)));
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = FULL");
      this.db.exec(SCHEMA);
    } catch (e) {
      if (e instanceof LinkcryptError) throw e;
      const code = (e as NodeJS.ErrnoException).code ?? "";
      const permissionHint = /EACCES|EPERM|CANTOPEN|READONLY/.test(code + (e as Error).message)
        ? " (no permission: give --state PATH, or set LINKCRYPT_STATE_HOME to a directory you may write)"
        : "";
      throw new LinkcryptError("E_STATE", `cannot open the state database ${where}: ${(e as Error).message}${permissionHint}`, {
        cause: e,
      });
    }
  }

  async tryLock(me: LockHolder, leaseMs: number): Promise<LockAttempt> {
    return this.guard(() =>
      this.db
        .transaction((): LockAttempt => {
          const row = this.db.prepare("SELECT owner, pid, host, token, since, heartbeat FROM lc_lock WHERE ns = ?").get(this.ns) as
            | LockRow
            | undefined;
          const insert = () =>
            this.db
              .prepare("INSERT INTO lc_lock (ns, owner, pid, host, token, since, heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?)")
              .run(this.ns, me.owner, me.pid, me.host, me.token, me.since, Date.now());
          if (!row) {
            insert();
            return { acquired: true };
          }
          const gone = (row.host === me.host && !pidAlive(row.pid)) || Date.now() - row.heartbeat > leaseMs;
          if (!gone) return { acquired: false, holder: row };
          this.db.prepare("DELETE FROM lc_lock WHERE ns = ?").run(this.ns);
          insert();
          return { acquired: true, tookOverFrom: row };
        })
        .immediate(),
    );
  }

  async heartbeat(token: string): Promise<void> {
    this.guard(() => this.db.prepare("UPDATE lc_lock SET heartbeat = ? WHERE ns = ? AND token = ?").run(Date.now(), this.ns, token));
  }

  async unlock(token: string): Promise<void> {
    this.unlockNow(token);
  }

  unlockNow(token: string): void {
    if (this.db.open) this.guard(() => this.db.prepare("DELETE FROM lc_lock WHERE ns = ? AND token = ?").run(this.ns, token));
  }

  async write(b: Batch): Promise<void> {
    this.guard(() =>
      this.db
        .transaction(() => {
          const j = this.db.prepare("INSERT INTO lc_journal (ns, at, run, step, target, state, detail) VALUES (?, ?, ?, ?, ?, ?, ?)");
          for (const e of b.journal ?? []) j.run(this.ns, e.at, e.run, e.step, e.target, e.state, e.detail ?? null);
          const s = this.db.prepare(
            "INSERT INTO lc_secrets (ns, name, sealed, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (ns, name) DO UPDATE SET sealed = excluded.sealed, created_at = excluded.created_at",
          );
          for (const r of b.secrets ?? []) s.run(this.ns, r.name, r.sealed, r.createdAt);
          const m = this.db.prepare("INSERT INTO lc_meta (ns, k, v) VALUES (?, ?, ?) ON CONFLICT (ns, k) DO UPDATE SET v = excluded.v");
          for (const [k, v] of Object.entries(b.meta ?? {})) m.run(this.ns, k, v);
        })
        .immediate(),
    );
  }

  async journal(): Promise<JournalEntry[]> {
    const rows = this.guard(() =>
      this.db.prepare("SELECT at, run, step, target, state, detail FROM lc_journal WHERE ns = ? ORDER BY id").all(this.ns),
    ) as (Omit<JournalEntry, "detail"> & { detail: string | null })[];
    return rows.map(({ detail, ...r }) => (detail === null ? r : { ...r, detail }));
  }

  async getSealed(name: string): Promise<SealedRow | undefined> {
    const r = this.guard(() =>
      this.db.prepare("SELECT name, sealed, created_at AS createdAt FROM lc_secrets WHERE ns = ? AND name = ?").get(this.ns, name),
    ) as SealedRow | undefined;
    return r;
  }

  async listSecrets(): Promise<{ name: string; createdAt: string }[]> {
    return this.guard(() =>
      this.db.prepare("SELECT name, created_at AS createdAt FROM lc_secrets WHERE ns = ? AND sealed <> '' ORDER BY name").all(this.ns),
    ) as { name: string; createdAt: string }[];
  }

  async deleteSecret(name: string): Promise<void> {
    this.guard(() => this.db.prepare("DELETE FROM lc_secrets WHERE ns = ? AND name = ?").run(this.ns, name));
  }

  async getMeta(k: string): Promise<string | undefined> {
    return (this.guard(() => this.db.prepare("SELECT v FROM lc_meta WHERE ns = ? AND k = ?").get(this.ns, k)) as { v: string } | undefined)
      ?.v;
  }

  async putMetaIfAbsent(k: string, v: string): Promise<string> {
    return this.guard(() =>
      this.db
        .transaction(() => {
          this.db.prepare("INSERT INTO lc_meta (ns, k, v) VALUES (?, ?, ?) ON CONFLICT (ns, k) DO NOTHING").run(this.ns, k, v);
          return (this.db.prepare("SELECT v FROM lc_meta WHERE ns = ? AND k = ?").get(this.ns, k) as { v: string }).v;
        })
        .immediate(),
    );
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  /** SQLite errors (a damaged file, a full disk, a busy database) as typed errors naming the file. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (e instanceof LinkcryptError) throw e;
      throw new LinkcryptError("E_STATE", `state database ${this.where}: ${(e as Error).message}`, { cause: e });
    }
  }
}
