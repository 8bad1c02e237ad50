import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { pskMasterSecretName } from "../../src/mesh/mesh-access.js";
import { labDown, readLab } from "../../src/lab/lab.js";
import { openState } from "../../src/state/open.js";
import { ViciClient } from "../../src/transport/vici.js";
import { cli } from "../cli-run.js";

/**
 * pskMaster: "state:" on the fast lab (4 namespaces, charon with kernel-libipsec): mesh deliver generates the master
 * and keeps it sealed in the state store, rotate mesh replaces it with every SA kept up, and the master's bytes are
 * nowhere in clear: not in the database, not in the lab directory, not in anything printed.
 */
const root = mkdtempSync(join(tmpdir(), "lc-mesh-state-e2e-"));
const dir = join(root, "lab");
const inv = join(dir, "inventory.yaml");
const db = join(root, "state.sqlite");
const state = ["--state", db];
const printed: string[] = [];
async function run(...argv: string[]) {
  const r = await cli(...argv);
  printed.push(r.out, r.err);
  return r;
}
type Finding = { a: string; b: string; status: string; spis?: { aIn: string; aOut: string } };
const verify = async () => JSON.parse((await run("mesh", "verify", inv, "--json")).out).pairs as Finding[];
const spiMap = (f: Finding[]) => Object.fromEntries(f.map((x) => [`${x.a}~${x.b}`, x.spis ? `${x.spis.aIn}/${x.spis.aOut}` : "-"]));
const healthy = (f: Finding[]) => f.length === 6 && f.every((x) => x.status === "up" || x.status === "idle");
async function storedMaster(): Promise<string | undefined> {
  const s = await openState({ state: db, inventory: invName, secrets: { env: {} } });
  try {
    return await s.getSecret(pskMasterSecretName("dc1-lan"));
  } finally {
    await s.close();
  }
}
function files(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) => {
    const p = join(d, e.name);
    if (e.isDirectory()) return files(p);
    return e.isFile() && statSync(p).size < 64 * 1024 * 1024 ? [p] : [];
  });
}
const masters: string[] = [];
let invName = "";

beforeAll(async () => {
  const r = await cli("lab", "up", "examples/mesh-lab.yaml", "--name", "psmst", "--dir", dir);
  expect(r.code, r.out + r.err).toBe(0);
  const doc = parse(readFileSync(inv, "utf8")) as { name: string; meshes: { pskMaster?: string }[] };
  invName = doc.name;
  doc.meshes[0]!.pskMaster = "state:";
  writeFileSync(inv, stringify(doc));
}, 60_000);
afterAll(async () => {
  await labDown(dir);
});

describe('pskMaster "state:" on the lab', () => {
  let before: Record<string, string> = {};

  it("mesh deliver generates the master, stores it sealed and brings up 6/6 pairs; a second deliver reuses it", async () => {
    expect(await storedMaster().catch(() => undefined)).toBeUndefined();
    const r = await run("mesh", "deliver", inv, "--lab", ...state);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/6\/6 pairs up/);
    const m = await storedMaster();
    expect(m).toMatch(/^[0-9a-f]{64}$/);
    masters.push(m!);
    const again = await run("mesh", "deliver", inv, "--lab", ...state);
    expect(again.code, again.out + again.err).toBe(0);
    expect(await storedMaster()).toBe(m);
    const f = await verify();
    expect(healthy(f)).toBe(true);
    before = spiMap(f);
    const ks = JSON.parse((await run("keys", "status", "--inventory", inv, ...state, "--json")).out).keys as {
      key: string;
      ageDays: number | null;
    }[];
    expect(ks.find((k) => k.key === "PSK master dc1-lan")?.ageDays).toBeLessThan(0.1);
  }, 90_000);

  it("rotate mesh: a new master, stored sealed and delivered, with every SA kept up; the new PSKs authenticate the next negotiation", async () => {
    const r = await run("rotate", "mesh", "dc1-lan", "--inventory", inv, ...state, "--lab");
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.out).toMatch(/6\/6 pairs up, connections reloaded: 0/);
    const m = await storedMaster();
    expect(m).toMatch(/^[0-9a-f]{64}$/);
    expect(m).not.toBe(masters[0]);
    masters.push(m!);
    expect(spiMap(await verify())).toEqual(before);
    const s = await openState({ state: db, inventory: invName, secrets: { env: {} } });
    const j = await s.journal();
    await s.close();
    expect(j.filter((e) => e.step === "rotate psk-master" && e.state === "done")).toHaveLength(1);
    // renegotiate one pair from scratch: only the new PSKs are loaded, so this proves they work on both ends
    const a = readLab(dir)!.hosts.find((h) => h.name === "app1")!;
    const v = await ViciClient.connect({ device: "app1", socketPath: a.viciSocket });
    await v.request("terminate", { ike: "mesh-db1", timeout: "3000" });
    await v.request("initiate", { ike: "mesh-db1", child: "mesh-db1", timeout: "10000" });
    v.close();
    const after = await verify();
    expect(healthy(after)).toBe(true);
    expect(spiMap(after)["app1~db1"]).not.toBe(before["app1~db1"]);
  }, 90_000);

  it("apply (dry run, then for real) reads the stored master and generates none; every pair stays up", async () => {
    const plan = join(root, "plan.json");
    const p = await run("plan", inv, "--out", plan);
    expect(p.code, p.out + p.err).toBe(0);
    const dry = await run("apply", plan, "--inventory", inv, ...state, "--lab", "--dry-run");
    expect([0, 2], dry.out + dry.err).toContain(dry.code);
    const r = await run("apply", plan, "--inventory", inv, ...state, "--lab", "--json");
    expect([0, 2], r.out + r.err).toContain(r.code);
    expect(JSON.parse(r.out).results.find((x: { target: string }) => x.target === "mesh dc1-lan")?.outcome).not.toBe("failed");
    expect(await storedMaster()).toBe(masters[1]);
    expect(healthy(await verify())).toBe(true);
  }, 90_000);

  it("a wrong state key: exit 1, nothing generated or delivered, the stored master kept", async () => {
    const r = await run("rotate", "mesh", "dc1-lan", "--inventory", inv, ...state, "--state-key", "env:LC_WRONG_KEY", "--lab");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/state key/);
    expect(await storedMaster()).toBe(masters[1]);
  });

  it("the masters' bytes are nowhere in clear: database, lab directory, or anything printed", () => {
    expect(masters).toHaveLength(2);
    const haystacks = [...files(root).map((f) => ({ f, b: readFileSync(f) })), { f: "printed", b: Buffer.from(printed.join("\n")) }];
    expect(haystacks.some((h) => h.f === db)).toBe(true);
    for (const m of masters)
      for (const needle of [
        Buffer.from(m),
        Buffer.from(m, "hex"),
        Buffer.from(m.toUpperCase()),
        Buffer.from(Buffer.from(m).toString("base64").slice(0, 40)),
      ])
        for (const h of haystacks) expect(h.b.includes(needle), `${h.f} holds a master`).toBe(false);
    expect(existsSync(`${db.replace(/\.sqlite$/, "")}.key`)).toBe(true);
  });
});
