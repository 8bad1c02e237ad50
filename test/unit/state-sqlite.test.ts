import Database from "better-sqlite3";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openState, stateFileName, stateLocation } from "../../src/state/open.js";
import { KEY_A, stateContract, type ContractTarget } from "./state-contract.js";

const dir = mkdtempSync(join(tmpdir(), "lc-state-sqlite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, "contract.sqlite");
let n = 0;
const uniq = () => `inv-${process.pid}-${n++}`;

const target: ContractTarget = {
  open: (o = {}) =>
    openState({
      state: file,
      inventory: o.inventory ?? "x",
      stateKey: o.key?.startsWith("env:") ? o.key : "env:LC_TEST_STATE_KEY",
      secrets: { env: { LC_TEST_STATE_KEY: o.key && !o.key.startsWith("env:") ? o.key : KEY_A } },
      cwd: dir,
      ...(o.leaseMs ? { leaseMs: o.leaseMs } : {}),
    }),
  location: () => file,
  rawSecret: async (inv, name) => {
    const db = new Database(file, { readonly: true });
    try {
      return (db.prepare("SELECT sealed FROM lc_secrets WHERE ns = ? AND name = ?").get(inv, name) as { sealed: string } | undefined)
        ?.sealed;
    } finally {
      db.close();
    }
  },
};

describe("StateStore contract: SQLite", () => {
  stateContract(() => target, uniq);
});

describe("SQLite state: where it lives, its key file, the lease, the old directory", () => {
  it("lives at a place derived from the inventory's name, not the working directory; --state and --state-dir override", () => {
    const env = { LINKCRYPT_STATE_HOME: "/srv/lc" };
    const a = stateLocation({ inventory: "dc-east", secrets: { env: {} }, env, cwd: "/home/u1/work" });
    const b = stateLocation({ inventory: "dc-east", secrets: { env: {} }, env, cwd: "/tmp/elsewhere" });
    expect(a).toMatchObject({ kind: "sqlite", path: "/srv/lc/dc-east.sqlite", keyFile: "/srv/lc/dc-east.key" });
    expect(b).toMatchObject({ kind: "sqlite", path: "/srv/lc/dc-east.sqlite" });
    expect(stateLocation({ inventory: "x", secrets: { env: {} }, env: {}, cwd: "/w" })).toMatchObject({
      path: "/var/lib/linkcrypt/x.sqlite",
    });
    expect(stateLocation({ inventory: "x", state: "s.db", secrets: { env: {} }, env, cwd: "/w" })).toMatchObject({
      path: "/w/s.db",
      keyFile: "/w/s.key",
    });
    expect(stateLocation({ inventory: "x", stateDir: "st", secrets: { env: {} }, env, cwd: "/w" })).toMatchObject({
      path: "/w/st/state.sqlite",
      keyFile: "/w/st/state.key",
      legacyDir: "/w/st",
    });
    expect(stateLocation({ inventory: "x", state: "postgresql://u@db/lc", secrets: { env: {} }, env })).toEqual({
      kind: "postgres",
      url: "postgresql://u@db/lc",
    });
    expect(() => stateLocation({ inventory: "x", state: "a", stateDir: "b", secrets: { env: {} } })).toThrow(
      /give --state or --state-dir, not both/,
    );
    expect(() => stateLocation({ inventory: "x", state: "redis://h", secrets: { env: {} } })).toThrow(/not redis:\/\//);
    // names that are not file names cannot meet: they get a digest
    expect(stateFileName("a/b")).not.toBe(stateFileName("a-b"));
    expect(stateFileName("../x")).not.toMatch(/\//);
  });

  it("the default key file is made once (mode 0600), the database is 0600; without its key file the store refuses and keeps its keys", async () => {
    const home = join(dir, "home");
    const o = { inventory: "keyfile", secrets: { env: {} }, env: { LINKCRYPT_STATE_HOME: home }, cwd: dir };
    const s = await openState(o);
    await s.putSecret("macsec/l1", "v1");
    await s.close();
    expect(statSync(join(home, "keyfile.key")).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, "keyfile.sqlite")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(home, "keyfile.key"), "utf8")).toMatch(/^[0-9a-f]{64}\n$/);
    const key = readFileSync(join(home, "keyfile.key"));
    rmSync(join(home, "keyfile.key"));
    const t = await openState(o);
    await expect(t.getSecret("macsec/l1")).rejects.toThrow(
      /the state key file:.*keyfile\.key is missing, and .* was sealed with a key \(1 secret\(s\) stored\); nothing was changed/,
    );
    await t.close();
    expect(existsSync(join(home, "keyfile.key"))).toBe(false); // not silently replaced by a new key
    writeFileSync(join(home, "keyfile.key"), key, { mode: 0o600 });
    const u = await openState(o);
    expect(await u.getSecret("macsec/l1")).toBe("v1");
    await u.close();
  });

  it("in a team's group-writable directory the database and key file are 0660, so every member can open them; never readable by others", async () => {
    const home = join(dir, "team");
    mkdirSync(home);
    chmodSync(home, 0o2770);
    const s = await openState({ inventory: "team", secrets: { env: {} }, env: { LINKCRYPT_STATE_HOME: home }, cwd: dir });
    await s.putSecret("macsec/l1", "v");
    await s.close();
    expect(statSync(join(home, "team.sqlite")).mode & 0o777).toBe(0o660);
    expect(statSync(join(home, "team.key")).mode & 0o777).toBe(0o660);
    chmodSync(join(home, "team.key"), 0o664);
    const t = await openState({ inventory: "team", secrets: { env: {} }, env: { LINKCRYPT_STATE_HOME: home }, cwd: dir });
    await expect(t.getSecret("macsec/l1")).rejects.toThrow(/team\.key is readable by others; chmod 660 it/);
    await t.close();
  });

  it("a holder that stopped renewing its lease is taken over (a live pid that is not the holder, e.g. a reused one)", async () => {
    const inv = uniq();
    const a = await target.open({ inventory: inv, leaseMs: 60_000 });
    await a.lock("stuck");
    const db = new Database(file);
    db.prepare("UPDATE lc_lock SET heartbeat = ?, pid = 1 WHERE ns = ?").run(Date.now() - 120_000, inv);
    db.close();
    const b = await target.open({ inventory: inv, leaseMs: 60_000 });
    expect((await b.lock("next")).tookOverFrom).toMatchObject({ owner: "stuck", pid: 1 });
    await b.close();
    await a.backend.close();
  });

  it("an older .linkcrypt directory is imported once, with a message; its keys are sealed, its journal kept", async () => {
    const cwd = join(dir, "old-cwd");
    mkdirSync(join(cwd, ".linkcrypt"), { recursive: true });
    const old = [
      {
        at: "2026-01-01T00:00:00.000Z",
        run: "r0",
        step: "commit",
        target: "l1",
        state: "started",
        detail: "confirm deadline 2026-01-01T00:02:00.000Z",
      },
      { at: "2026-01-01T00:00:01.000Z", run: "r0", step: "confirm", target: "l1", state: "done" },
    ];
    writeFileSync(join(cwd, ".linkcrypt", "journal.jsonl"), `${old.map((e) => JSON.stringify(e)).join("\n")}\nnot json\n`);
    const key = JSON.stringify({
      ckn: "1".repeat(64),
      cak: "2".repeat(64),
      cryptoAlgorithm: "AES_256_CMAC",
      createdAt: "2026-01-01T00:00:00.000Z",
    });
    writeFileSync(join(cwd, ".linkcrypt", "secrets.json"), JSON.stringify({ "macsec/l1": key }), { mode: 0o600 });
    const said: string[] = [];
    const o = {
      inventory: "migrated",
      secrets: { env: {} },
      env: { LINKCRYPT_STATE_HOME: join(dir, "mhome") },
      cwd,
      say: (l: string) => void said.push(l),
    };
    const s = await openState(o);
    expect(said.join("\n")).toMatch(
      new RegExp(
        /imported the state directory .*\.linkcrypt \(2 journal entries, 1 unreadable lines skipped, 1 key\(s\)\) into sqlite /.source +
          /.*migrated\.sqlite, once; .*secrets\.json holds those keys in clear: delete it/.source,
      ),
    );
    expect(await s.getSecret("macsec/l1")).toBe(key);
    expect(await s.secretCreatedAt("macsec/l1")).toBe("2026-01-01T00:00:00.000Z");
    expect((await s.journal()).map((e) => `${e.step}:${e.state}`)).toEqual(["commit:started", "confirm:done"]);
    await s.close();
    const db = new Database(join(dir, "mhome", "migrated.sqlite"), { readonly: true });
    expect(JSON.stringify(db.prepare("SELECT * FROM lc_secrets").all())).not.toContain("2".repeat(16));
    db.close();
    said.length = 0;
    const again = await openState(o);
    expect(said).toEqual([]);
    expect(await again.journal()).toHaveLength(2);
    await again.close();
  });

  it("a damaged database file is a typed error naming it", async () => {
    const bad = join(dir, "bad.sqlite");
    writeFileSync(bad, "this is not a database, just text long enough to have a header".repeat(20));
    await expect(openState({ state: bad, inventory: "x", secrets: { env: {} } })).rejects.toMatchObject({
      code: "E_STATE",
      message: expect.stringMatching(/bad\.sqlite/),
    });
  });
});
