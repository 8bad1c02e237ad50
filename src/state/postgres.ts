import pg from "pg";
import { LinkcryptError } from "../errors.js";
import type { Batch, JournalEntry, LockAttempt, LockHolder, SealedRow, StateBackend } from "./store.js";

/**
 * The team backend: PostgreSQL through `pg`, one session per store. The lock is a session-level advisory lock, so
 * PostgreSQL itself frees it when the holder's session ends (process killed, host gone once TCP keepalive gives
 * up): a crashed holder cannot wedge it. A row beside it says who holds it, for the refusal message. Every write is
 * one transaction; tables carry the inventory's name, so one database can hold many inventories.
 */
const LOCK_CLASS = 0x4c43; // "LC": the first key of pg_try_advisory_lock(int, int); the second is hashtext(ns)

const SCHEMA = `
CREATE TABLE IF NOT EXISTS lc_meta (ns TEXT NOT NULL, k TEXT NOT NULL, v TEXT NOT NULL, PRIMARY KEY (ns, k));
CREATE TABLE IF NOT EXISTS lc_journal (id BIGSERIAL PRIMARY KEY, ns TEXT NOT NULL, at TEXT NOT NULL, run TEXT NOT NULL,
  step TEXT NOT NULL, target TEXT NOT NULL, state TEXT NOT NULL, detail TEXT);
CREATE INDEX IF NOT EXISTS lc_journal_ns ON lc_journal (ns, id);
CREATE TABLE IF NOT EXISTS lc_secrets (ns TEXT NOT NULL, name TEXT NOT NULL, sealed TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (ns, name));
CREATE TABLE IF NOT EXISTS lc_lock (ns TEXT PRIMARY KEY, owner TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL, token TEXT NOT NULL,
  since TEXT NOT NULL, heartbeat BIGINT NOT NULL);
`;

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "****";
    return u.toString();
  } catch {
    // libpq forms WHATWG URL refuses, e.g. a socket directory as ?host= with no host part ("postgres://user@/db?host=/run/pg"):
    // shown as given, with any password between "user:" and "@" masked.
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/?#]*):[^@/?#]*@/i, "$1:****@");
  }
}

export class PgBackend implements StateBackend {
  readonly kind = "postgres" as const;
  readonly where: string;
  private lost: Error | undefined;

  private constructor(
    private readonly client: pg.Client,
    url: string,
    private readonly ns: string,
  ) {
    this.where = redactUrl(url);
    client.on("error", (e) => {
      this.lost = e;
    });
  }

  static async connect(url: string, ns: string): Promise<PgBackend> {
    const client = new pg.Client({
      connectionString: url,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      connectionTimeoutMillis: 10_000,
      application_name: "linkcrypt",
    });
    try {
      await client.connect();
    } catch (e) {
      await client.end().catch(() => undefined);
      throw new LinkcryptError("E_STATE", `cannot connect to the PostgreSQL state ${redactUrl(url)}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    const b = new PgBackend(client, url, ns);
    // Two controllers creating the tables at once would collide in the catalog: one at a time.
    await b.tx(async () => {
      await client.query("SELECT pg_advisory_xact_lock($1, 0)", [LOCK_CLASS]);
      await client.query(SCHEMA);
    });
    return b;
  }

  async tryLock(me: LockHolder): Promise<LockAttempt> {
    return this.q(async () => {
      const got = (await this.client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok", [LOCK_CLASS, this.ns]))
        .rows[0]!.ok;
      let before = await this.holder();
      if (!got) {
        // The holder writes its row just after taking the lock: give it a moment, so the refusal can name it.
        for (let i = 0; i < 10 && !before; i++) {
          await new Promise((t) => setTimeout(t, 100));
          before = await this.holder();
        }
        return { acquired: false, holder: before };
      }
      // A row left by a holder whose session is gone: that holder is taken over.
      await this.client.query(
        "INSERT INTO lc_lock (ns, owner, pid, host, token, since, heartbeat) VALUES ($1, $2, $3, $4, $5, $6, $7) " +
          "ON CONFLICT (ns) DO UPDATE SET owner = excluded.owner, pid = excluded.pid, host = excluded.host, token = excluded.token, since = excluded.since, heartbeat = excluded.heartbeat",
        [this.ns, me.owner, me.pid, me.host, me.token, me.since, Date.now()],
      );
      return before && before.token !== me.token ? { acquired: true, tookOverFrom: before } : { acquired: true };
    });
  }

  private async holder(): Promise<LockHolder | undefined> {
    const r = (await this.client.query("SELECT owner, pid, host, token, since, heartbeat FROM lc_lock WHERE ns = $1", [this.ns])).rows[0] as
      | (LockHolder & { heartbeat: string })
      | undefined;
    return r ? { ...r, heartbeat: Number(r.heartbeat) } : undefined;
  }

  async heartbeat(token: string): Promise<void> {
    await this.q(() => this.client.query("UPDATE lc_lock SET heartbeat = $1 WHERE ns = $2 AND token = $3", [Date.now(), this.ns, token]));
  }

  async unlock(token: string): Promise<void> {
    await this.q(async () => {
      await this.client.query("DELETE FROM lc_lock WHERE ns = $1 AND token = $2", [this.ns, token]);
      await this.client.query("SELECT pg_advisory_unlock($1, hashtext($2))", [LOCK_CLASS, this.ns]);
    });
  }

  /** The session ends with the process, and PostgreSQL frees the advisory lock with it. */
  unlockNow(): void {}

  async write(b: Batch): Promise<void> {
    await this.tx(async () => {
      for (const e of b.journal ?? [])
        await this.client.query("INSERT INTO lc_journal (ns, at, run, step, target, state, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)", [
          this.ns,
          e.at,
          e.run,
          e.step,
          e.target,
          e.state,
          e.detail ?? null,
        ]);
      for (const r of b.secrets ?? [])
        await this.client.query(
          "INSERT INTO lc_secrets (ns, name, sealed, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (ns, name) DO UPDATE SET sealed = excluded.sealed, created_at = excluded.created_at",
          [this.ns, r.name, r.sealed, r.createdAt],
        );
      for (const [k, v] of Object.entries(b.meta ?? {}))
        await this.client.query("INSERT INTO lc_meta (ns, k, v) VALUES ($1, $2, $3) ON CONFLICT (ns, k) DO UPDATE SET v = excluded.v", [
          this.ns,
          k,
          v,
        ]);
    });
  }

  async journal(): Promise<JournalEntry[]> {
    const rows = (
      await this.q(() =>
        this.client.query("SELECT at, run, step, target, state, detail FROM lc_journal WHERE ns = $1 ORDER BY id", [this.ns]),
      )
    ).rows as (Omit<JournalEntry, "detail"> & { detail: string | null })[];
    return rows.map(({ detail, ...r }) => (detail === null ? r : { ...r, detail }));
  }

  async getSealed(name: string): Promise<SealedRow | undefined> {
    return (
      await this.q(() =>
        this.client.query('SELECT name, sealed, created_at AS "createdAt" FROM lc_secrets WHERE ns = $1 AND name = $2', [this.ns, name]),
      )
    ).rows[0] as SealedRow | undefined;
  }

  async listSecrets(): Promise<{ name: string; createdAt: string }[]> {
    return (
      await this.q(() =>
        this.client.query("SELECT name, created_at AS \"createdAt\" FROM lc_secrets WHERE ns = $1 AND sealed <> '' ORDER BY name", [
          this.ns,
        ]),
      )
    ).rows as { name: string; createdAt: string }[];
  }

  async deleteSecret(name: string): Promise<void> {
    await this.q(() => this.client.query("DELETE FROM lc_secrets WHERE ns = $1 AND name = $2", [this.ns, name]));
  }

  async getMeta(k: string): Promise<string | undefined> {
    return (
      (await this.q(() => this.client.query("SELECT v FROM lc_meta WHERE ns = $1 AND k = $2", [this.ns, k]))).rows[0] as
        | { v: string }
        | undefined
    )?.v;
  }

  async putMetaIfAbsent(k: string, v: string): Promise<string> {
    await this.q(() =>
      this.client.query("INSERT INTO lc_meta (ns, k, v) VALUES ($1, $2, $3) ON CONFLICT (ns, k) DO NOTHING", [this.ns, k, v]),
    );
    return (await this.getMeta(k))!;
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }

  private async tx(fn: () => Promise<void>): Promise<void> {
    await this.q(async () => {
      await this.client.query("BEGIN");
      try {
        await fn();
        await this.client.query("COMMIT");
      } catch (e) {
        await this.client.query("ROLLBACK").catch(() => undefined);
        throw e;
      }
    });
  }

  /** Database errors as typed errors naming the server; a lost session also lost the lock, so nothing may go on. */
  private async q<T>(fn: () => Promise<T>): Promise<T> {
    if (this.lost)
      throw new LinkcryptError(
        "E_STATE",
        `the session to the PostgreSQL state ${this.where} was lost (${this.lost.message}), and with it the lock; stopping`,
      );
    try {
      return await fn();
    } catch (e) {
      if (e instanceof LinkcryptError) throw e;
      throw new LinkcryptError("E_STATE", `PostgreSQL state ${this.where}: ${(e as Error).message}`, { cause: e });
    }
  }
}
