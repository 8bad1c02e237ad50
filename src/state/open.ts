import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { InputError, UsageError } from "../errors.js";
import { resolveSecret, type SecretSources } from "../secrets.js";
import { deriveStateKey, seal, StateKeyError } from "./cipher.js";
import { PgBackend } from "./postgres.js";
import { SqliteBackend, stateFileMode } from "./sqlite.js";
import { referencedKey, StateStore, type JournalEntry, type KeySource } from "./store.js";

/**
 * Where an inventory's state is, and opening it:
 * - `--state postgres://…` (or postgresql://): PostgreSQL, shared by a team; needs a state key reference;
 * - `--state PATH`: that SQLite file (a directory: PATH/state.sqlite);
 * - `--state-dir DIR` (legacy): DIR/state.sqlite; the old files in DIR are imported once;
 * - otherwise `$LINKCRYPT_STATE_HOME/<inventory name>.sqlite`, by default under /var/lib/linkcrypt, the same for
 *   every directory and user on the controller host. A `.linkcrypt/` directory in the working directory from an
 *   older linkcrypt is imported into it once.
 * The state key: `--state-key REF`, else `$LINKCRYPT_STATE_KEY` (a reference), else, for SQLite only, a key file
 * beside the database (`….key`, mode 0600) made when the store is new.
 */
export const DEFAULT_STATE_HOME = "/var/lib/linkcrypt";
export const STATE_HELP =
  "inventory state (journal, lock, sealed keys): a SQLite file, or postgres://… for a team " +
  `(default $LINKCRYPT_STATE_HOME/<inventory name>.sqlite, ${DEFAULT_STATE_HOME} unless set)`;
export const STATE_KEY_HELP =
  "reference to the key that seals generated secrets: env:VAR, file:PATH, secrets:KEY or cmd:COMMAND (default $LINKCRYPT_STATE_KEY; SQLite: a key file beside the database)";

export interface StateOptions {
  state?: string | undefined;
  stateDir?: string | undefined;
  stateKey?: string | undefined;
  /** The inventory's `state:` block: used when no option says otherwise; a relative SQLite path is from `base`. */
  inventoryState?: { location?: string | undefined; key?: string | undefined; base: string } | undefined;
  /** The inventory's identity: its `name`. */
  inventory: string;
  secrets: SecretSources;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Messages for the operator (the one-time import). */
  say?: (line: string) => void;
  leaseMs?: number;
}

export type StateLocation =
  | { kind: "sqlite"; path: string; keyFile: string; legacyDir?: string; legacyExplicit: boolean }
  | { kind: "postgres"; url: string };

/** The inventory name as a file name; a name that had to change gets a short digest so two names never meet. */
export function stateFileName(inventory: string): string {
  const safe =
    inventory
      .replace(/[^A-Za-z0-9._-]/g, "-")
      .replace(/^\.+/, "_")
      .slice(0, 80) || "_";
  return safe === inventory ? safe : `${safe}-${createHash("sha256").update(inventory).digest("hex").slice(0, 8)}`;
}

export function stateLocation(o: StateOptions): StateLocation {
  const env = o.env ?? process.env;
  const cwd = o.cwd ?? process.cwd();
  if (o.state !== undefined && o.stateDir !== undefined)
    throw new UsageError("give --state or --state-dir, not both (--state-dir DIR is the same as --state DIR/state.sqlite)");
  if (o.state !== undefined) {
    if (o.state.trim() === "") throw new UsageError("--state needs a SQLite file or a postgres:// URL");
    if (/^postgres(ql)?:\/\//i.test(o.state)) return { kind: "postgres", url: o.state };
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(o.state))
      throw new UsageError(`--state takes a SQLite file or a postgres:// URL, not ${o.state.split(":")[0]}://`);
    const p = resolve(cwd, o.state);
    const path = existsSync(p) && statSync(p).isDirectory() ? join(p, "state.sqlite") : p;
    return { kind: "sqlite", path, keyFile: path.replace(/(\.sqlite3?|\.db)?$/, ".key"), legacyExplicit: false };
  }
  if (o.stateDir !== undefined) {
    const dir = resolve(cwd, o.stateDir);
    return { kind: "sqlite", path: join(dir, "state.sqlite"), keyFile: join(dir, "state.key"), legacyDir: dir, legacyExplicit: true };
  }
  if (o.inventoryState?.location !== undefined)
    return stateLocation({ ...o, state: o.inventoryState.location, inventoryState: undefined, cwd: o.inventoryState.base });
  const home = resolve(cwd, env.LINKCRYPT_STATE_HOME || DEFAULT_STATE_HOME);
  const base = join(home, stateFileName(o.inventory));
  return { kind: "sqlite", path: `${base}.sqlite`, keyFile: `${base}.key`, legacyDir: join(cwd, ".linkcrypt"), legacyExplicit: false };
}

/** The embedded default's key: a file of 64 hex characters, made (mode 0600) the first time the store needs a key. */
function keyFileSource(path: string): KeySource {
  const ref = `file:${path}`;
  return {
    ref,
    read() {
      if (!existsSync(path)) return undefined;
      // Group access only where the directory is a team's (group-writable); never others.
      const shared = stateFileMode(dirname(path)) === 0o660;
      if ((statSync(path).mode & (shared ? 0o007 : 0o077)) !== 0)
        throw new StateKeyError(
          `the state key ${path} is readable by ${shared ? "others" : "group or others"}; chmod ${shared ? "660" : "600"} it`,
        );
      return deriveStateKey(readFileSync(path, "utf8"), ref);
    },
    create() {
      const hex = randomBytes(32).toString("hex");
      writeFileSync(path, `${hex}\n`, { mode: 0o600, flag: "wx" });
      chmodSync(path, stateFileMode(dirname(path)));
      return Buffer.from(hex, "hex");
    },
  };
}

export async function openState(o: StateOptions): Promise<StateStore> {
  const env = o.env ?? process.env;
  const loc = stateLocation(o);
  const ref = o.stateKey ?? (env.LINKCRYPT_STATE_KEY || undefined) ?? o.inventoryState?.key;
  if (ref !== undefined && !/^(env|file|secrets|cmd):./.test(ref)) {
    // Never echo the value: without a scheme it may be the key itself. Only a scheme-looking prefix is named.
    const scheme = /^([a-z][a-z0-9+.-]{0,15}):/i.exec(ref)?.[1];
    const got = scheme ? `the unknown scheme "${scheme}:"` : `a value with no scheme (${ref.length} characters, not shown)`;
    throw new UsageError(`the state key must be a reference (env:VAR, file:PATH, secrets:KEY or cmd:COMMAND), got ${got}`);
  }
  const keySource =
    ref !== undefined
      ? referencedKey(ref, (r) => resolveSecret(r, o.secrets), deriveStateKey)
      : loc.kind === "sqlite"
        ? keyFileSource(loc.keyFile)
        : undefined;
  const backend = loc.kind === "postgres" ? await PgBackend.connect(loc.url, o.inventory) : new SqliteBackend(loc.path, o.inventory);
  const store = new StateStore(backend, o.inventory, keySource, o.leaseMs ?? (Number(env.LINKCRYPT_STATE_LEASE_S) * 1000 || undefined));
  if (loc.kind === "sqlite" && loc.legacyDir) {
    try {
      await importLegacyDir(store, loc.legacyDir, o.say ?? (() => undefined));
    } catch (e) {
      await store.close();
      throw e;
    }
  }
  return store;
}

/**
 * Imports a state directory of linkcrypt before the state store (journal.jsonl, secrets.json in clear) once: the
 * journal and the keys go in one transaction, the keys sealed, and the import is recorded so it never repeats.
 */
export async function importLegacyDir(
  store: StateStore,
  dir: string,
  say: (line: string) => void,
): Promise<{ entries: number; keys: number } | undefined> {
  const jf = join(dir, "journal.jsonl");
  const sf = join(dir, "secrets.json");
  if (!existsSync(jf) && !existsSync(sf)) return undefined;
  const mark = `imported:${realpathSync(dir)}`;
  if (await store.backend.getMeta(mark)) return undefined;
  const entries: JournalEntry[] = [];
  let skipped = 0;
  if (existsSync(jf))
    for (const line of readFileSync(jf, "utf8")
      .split("\n")
      .filter((l) => l.trim())) {
      try {
        const e = JSON.parse(line) as JournalEntry;
        if (
          typeof e?.at === "string" &&
          typeof e.run === "string" &&
          typeof e.step === "string" &&
          typeof e.target === "string" &&
          ["started", "done", "failed", "rolled-back"].includes(e.state)
        )
          entries.push({
            at: e.at,
            run: e.run,
            step: e.step,
            target: e.target,
            state: e.state,
            ...(typeof e.detail === "string" ? { detail: e.detail } : {}),
          });
        else skipped++;
      } catch {
        skipped++;
      }
    }
  let secrets: Record<string, unknown> = {};
  if (existsSync(sf)) {
    try {
      secrets = JSON.parse(readFileSync(sf, "utf8")) as Record<string, unknown>;
      if (typeof secrets !== "object" || secrets === null || Array.isArray(secrets)) throw new Error("not an object");
    } catch (e) {
      throw new InputError(
        `cannot import ${sf}: it is not the JSON object an older linkcrypt wrote (${(e as Error).message}); nothing was imported`,
      );
    }
  }
  const keys = Object.entries(secrets).filter((kv): kv is [string, string] => typeof kv[1] === "string" && kv[1] !== "");
  const k = keys.length ? await store.checkKey() : undefined;
  const now = new Date().toISOString();
  await store.backend.write({
    journal: entries,
    secrets: keys.map(([name, v]) => {
      let createdAt = now;
      try {
        createdAt = (JSON.parse(v) as { createdAt?: string }).createdAt ?? now;
      } catch {
        /* not a JSON key record: keep the import time */
      }
      return { name, sealed: seal(k!, `${store.ns}/${name}`, v), createdAt };
    }),
    meta: { [mark]: now },
  });
  say(
    `imported the state directory ${dir} (${entries.length} journal entries${skipped ? `, ${skipped} unreadable lines skipped` : ""}, ${keys.length} key(s)) into ${store.where}, once; ` +
      `linkcrypt no longer reads it${keys.length ? `, and its secrets.json holds those keys in clear: delete it` : ""}`,
  );
  return { entries: entries.length, keys: keys.length };
}
