import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { openState } from "../../src/state/open.js";
import { cli } from "../cli-run.js";

/** The state options through the CLI: bad state is a typed error (exit 1) or a usage error (64), never 70. */
const dir = mkdtempSync(join(tmpdir(), "lc-state-cli-"));
const INV = "examples/two-site-dwdm.yaml";
const noInternal = (r: { code: number; err: string }) => {
  expect(r.code).not.toBe(70);
  expect(r.err).not.toMatch(/internal error|\n\s+at /);
};

describe("state options (CLI)", () => {
  it("--help says where the state is and how to override it", async () => {
    const r = await cli("apply", "--help");
    expect(r.out.replace(/\s+/g, " ")).toContain(
      "--state <location> inventory state (journal, lock, sealed keys): a SQLite file, or postgres://… for a team " +
        "(default $LINKCRYPT_STATE_HOME/<inventory name>.sqlite, /var/lib/linkcrypt unless set)",
    );
    expect(r.out).toMatch(/--state-key <ref>/);
    expect((await cli("keys", "status", "--help")).out).toMatch(/--state <location>/);
  });

  it("--state and --state-dir together, or an unknown URL scheme, are usage errors (64)", async () => {
    const both = await cli("keys", "status", "--inventory", INV, "--state", join(dir, "a.sqlite"), "--state-dir", join(dir, "b"));
    expect(both.code).toBe(64);
    expect(both.err).toMatch(/give --state or --state-dir, not both/);
    const scheme = await cli("keys", "status", "--inventory", INV, "--state", "mysql://h/db");
    expect(scheme.code).toBe(64);
    const ref = await cli("keys", "status", "--inventory", INV, "--state", join(dir, "c.sqlite"), "--state-key", "plaintext-key-here");
    expect(ref.code).toBe(64);
    expect(ref.err).toMatch(
      /the state key must be a reference \(env:VAR, file:PATH, secrets:KEY or cmd:COMMAND\), got a value with no scheme/,
    );
    expect(ref.err).not.toContain("plaintext-key-here"); // the value may be the key itself: never echoed
    const unknown = await cli("keys", "status", "--inventory", INV, "--state", join(dir, "c.sqlite"), "--state-key", "vault:kv/x");
    expect(unknown.code).toBe(64);
    expect(unknown.err).toMatch(/got the unknown scheme "vault:"/);
  });

  it("a cmd: state key is run (vault, sops) and seals the store like any other reference", async () => {
    const db = join(dir, "cmd.sqlite");
    const open = (key: string) => openState({ state: db, inventory: "cmd-key", stateKey: key, secrets: { env: {} } });
    const s = await open("cmd:printf %s 0123456789abcdef0123456789abcdef");
    await s.putSecret("macsec/l1", "the-cak");
    await s.close();
    expect(readFileSync(db).includes(Buffer.from("the-cak"))).toBe(false); // sealed, not stored in clear
    const again = await open("cmd:printf %s 0123456789abcdef0123456789abcdef");
    expect(await again.getSecret("macsec/l1")).toBe("the-cak");
    await again.close();
    const other = await open("cmd:printf %s another-key-another-key-another");
    await expect(other.getSecret("macsec/l1")).rejects.toThrow();
    await other.close();
    const bad = await open("cmd:false");
    await expect(bad.getSecret("macsec/l1")).rejects.toThrow(/cmd:false/);
    await bad.close();
  });

  it("report reads key ages from the inventory's own state: block when no --state is given", async () => {
    const d = join(dir, "report-state");
    mkdirSync(d);
    const inv = parse(readFileSync(INV, "utf8")) as Record<string, unknown>;
    writeFileSync(join(d, "inv.yaml"), stringify({ ...inv, state: { location: "team.sqlite", key: "env:LC_REPORT_STATE_KEY" } }));
    process.env.LC_REPORT_STATE_KEY = "0123456789abcdef0123456789abcdef";
    const store = await openState({
      state: join(d, "team.sqlite"),
      inventory: "two-site-dwdm",
      stateKey: "env:LC_REPORT_STATE_KEY",
      secrets: { env: process.env },
    });
    await store.putSecret("macsec/ams1-fra1-dwdm", "a-cak");
    await store.close();
    const r = await cli("report", join(d, "inv.yaml"), "--format", "json");
    expect(r.code, r.err).toBe(1); // 1: nothing verified (no --verify evidence), which the report says
    const link = (JSON.parse(r.out) as { links: { name: string; keyAge: { source: string; seconds: number | null } }[] }).links.find(
      (x) => x.name === "ams1-fra1-dwdm",
    );
    expect(link?.keyAge.source).toMatch(/CAK created .* \(state store\)/);
    expect(link?.keyAge.seconds).not.toBeNull();
  });

  it("an unnamed inventory's shared state identity is warned about, unless a location is given", async () => {
    const d = join(dir, "unnamed");
    mkdirSync(d);
    const inv = parse(readFileSync(INV, "utf8")) as Record<string, unknown>;
    delete inv.name;
    writeFileSync(join(d, "inv.yaml"), stringify(inv));
    const home = process.env.LINKCRYPT_STATE_HOME;
    process.env.LINKCRYPT_STATE_HOME = join(d, "home");
    try {
      const r = await cli("keys", "status", "--inventory", join(d, "inv.yaml"));
      expect(r.code, r.err).toBe(0);
      expect(r.err).toMatch(/inv\.yaml has no name:, so its state .* is kept as "inventory", shared with every other unnamed inventory/);
      const given = await cli("keys", "status", "--inventory", join(d, "inv.yaml"), "--state", join(d, "own.sqlite"));
      expect(given.err).not.toMatch(/has no name/);
      const named = await cli("keys", "status", "--inventory", INV);
      expect(named.err).not.toMatch(/has no name/);
    } finally {
      if (home === undefined) delete process.env.LINKCRYPT_STATE_HOME;
      else process.env.LINKCRYPT_STATE_HOME = home;
    }
  });

  it("a damaged state database is exit 1 naming it", async () => {
    const bad = join(dir, "bad.sqlite");
    writeFileSync(bad, "garbage, not SQLite ".repeat(100));
    const r = await cli("keys", "status", "--inventory", INV, "--state", bad);
    noInternal(r);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.sqlite/);
  });

  it("an older state directory with a corrupt secrets.json or journal line: exit 1 naming the file, or the bad lines skipped", async () => {
    const old = join(dir, "old");
    mkdirSync(old);
    writeFileSync(join(old, "secrets.json"), "{ not json", { mode: 0o600 });
    const r = await cli("keys", "status", "--inventory", INV, "--state-dir", old);
    noInternal(r);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot import .*secrets\.json: it is not the JSON object an older linkcrypt wrote .*; nothing was imported/);
    const old2 = join(dir, "old2");
    mkdirSync(old2);
    writeFileSync(join(old2, "journal.jsonl"), '{"at":"x","run":"r","step":"stage","target":"t","state":"done"}\n{broken\n');
    writeFileSync(join(old2, "apply.lock"), "not json either");
    const ok = await cli("keys", "status", "--inventory", INV, "--state-dir", old2);
    noInternal(ok);
    expect(ok.code).toBe(0);
    expect(ok.err).toMatch(/imported the state directory .*old2 \(1 journal entries, 1 unreadable lines skipped, 0 key\(s\)\)/);
  });

  it("a state location that cannot be created is exit 1 naming it", async () => {
    writeFileSync(join(dir, "a-file"), "");
    const r = await cli("keys", "status", "--inventory", INV, "--state", join(dir, "a-file", "x.sqlite"));
    noInternal(r);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot open the state database .*a-file\/x\.sqlite: ./);
  });

  it("an inventory's state: block gives the location (relative to the inventory file) and the key; --state overrides it", async () => {
    const d = join(dir, "inv-state");
    mkdirSync(d);
    const inv = parse(readFileSync(INV, "utf8")) as Record<string, unknown>;
    writeFileSync(join(d, "inv.yaml"), stringify({ ...inv, state: { location: "team.sqlite", key: "env:LC_NO_SUCH_STATE_KEY" } }));
    const r = await cli("keys", "status", "--inventory", join(d, "inv.yaml"));
    expect(r.code, r.err).toBe(0);
    expect(existsSync(join(d, "team.sqlite"))).toBe(true);
    const other = await cli("keys", "status", "--inventory", join(d, "inv.yaml"), "--state", join(dir, "override.sqlite"));
    expect(other.code, other.err).toBe(0);
    expect(existsSync(join(dir, "override.sqlite"))).toBe(true);
    writeFileSync(join(d, "bad.yaml"), stringify({ ...inv, state: { key: "the-key-itself" } }));
    const bad = await cli("validate", join(d, "bad.yaml"));
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/state\.key.*a secret reference is/);
  });

  it("a location under /proc is refused at once, not a hang", async () => {
    const r = await cli("keys", "status", "--inventory", INV, "--state", "/proc/linkcrypt-no/x.sqlite");
    noInternal(r);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot open the state database \/proc\/linkcrypt-no\/x\.sqlite: ENOENT/);
  }, 10_000);
});
