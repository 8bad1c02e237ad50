import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { openState } from "../../src/state/open.js";
import type { JournalEntry } from "../../src/state/store.js";
import { dataXml } from "../../src/transport/netconf/client.js";
import { LAB_USER, netconfProbe, startNetconf, type NetconfPeer } from "../lab/peers.js";
import { startPostgres, type PgCluster } from "../lab/postgres.js";

/**
 * The shared state and clean interrupts, driven as a user would: `linkcrypt` processes (bin/linkcrypt.js) against
 * two real netconfd switches, with the state in a throwaway PostgreSQL cluster or in the default SQLite location.
 * Signals are real: SIGINT, SIGTERM and SIGKILL sent to the apply process.
 */
const dir = mkdtempSync(join(tmpdir(), "lc-state-apply-"));
const bin = resolve("bin/linkcrypt.js");
const KEY = "b".repeat(64);
let swA: NetconfPeer, swB: NetconfPeer, pgc: PgCluster;
const OC = "http://openconfig.net/yang/macsec";
const inv = join(dir, "inv.yaml");
const stateHome = join(dir, "state-home");

function inventory(suite: string, links = 1) {
  const sw = (name: string, site: string, p: NetconfPeer) => ({
    name,
    kind: "switch",
    site,
    profile: "lab-openconfig-switch",
    management: { address: p.host, port: p.port, transport: "netconf" },
    credentials: { username: LAB_USER, secret: `file:${p.clientKeyPath}` },
    ports: [
      { name: "eth1", speed: "100G", mtu: 9000 },
      { name: "eth2", speed: "100G", mtu: 9000 },
    ],
  });
  return {
    version: 1,
    name: "state-lab",
    policy: "default",
    sites: [{ name: "a" }, { name: "b" }],
    devices: [sw("sw-a", "a", swA), sw("sw-b", "b", swB)],
    links: [1, 2].slice(0, links).map((i) => ({
      name: `l${i}`,
      a: `sw-a:eth${i}`,
      b: `sw-b:eth${i}`,
      medium: "dwdm",
      speed: "100G",
      pathMtu: 9216,
      macsecSuite: suite,
    })),
  };
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
}
function start(
  args: string[],
  o: { cwd?: string; env?: Record<string, string> } = {},
): { child: ChildProcess; done: Promise<Run>; said: () => string } {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: o.cwd ?? dir,
    env: { ...process.env, LC_STATE_KEY: KEY, LINKCRYPT_STATE_HOME: stateHome, ...o.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const done = new Promise<Run>((r) => child.once("exit", (code, signal) => r({ code, signal, out, err })));
  return { child, done, said: () => err };
}
const run = (args: string[], o: { cwd?: string; env?: Record<string, string> } = {}) => start(args, o).done;
const access = () => ["--inventory", inv, "--known-hosts", join(dir, "known_hosts"), "--confirm-timeout", "30", "--secured-timeout", "5"];
const pgState = () => ["--state", pgc.url, "--state-key", "env:LC_STATE_KEY"];

async function journalOf(state: string[]): Promise<JournalEntry[]> {
  const s = await openState({ state: state[1], inventory: "state-lab", secrets: { env: {} } });
  try {
    return await s.journal();
  } finally {
    await s.close();
  }
}
/** Waits until the state's journal shows an entry matching `pred` that was not there before. */
async function waitForEntry(state: string[], seen: number, pred: (e: JournalEntry) => boolean, child: ChildProcess): Promise<void> {
  const until = Date.now() + 30_000;
  for (;;) {
    if ((await journalOf(state)).slice(seen).some(pred)) return;
    if (Date.now() > until || child.exitCode !== null) throw new Error("the apply never reached that step");
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** What a switch runs. netconfd now and then never answers a fresh session's first RPC (see the NETCONF client): one more session then. */
async function onSwitch(p: NetconfPeer): Promise<{ suites: string[]; ckns: string[] }> {
  try {
    return await readSwitch(p);
  } catch (e) {
    if ((e as { code?: string }).code !== "E_TIMEOUT") throw e;
    return readSwitch(p);
  }
}
async function readSwitch(p: NetconfPeer): Promise<{ suites: string[]; ckns: string[] }> {
  const { nc, close } = await netconfProbe(p, { rpcTimeoutMs: 10_000 });
  try {
    const mac = dataXml(await nc.getConfig("running", `<macsec xmlns="${OC}"/>`));
    const kc = dataXml(await nc.getConfig("running", '<keychains xmlns="http://openconfig.net/yang/oc-keychain"/>'));
    return {
      suites: [...mac.matchAll(/<macsec-cipher-suite>(\w+)</g)].map((m) => m[1]!),
      ckns: [...new Set([...kc.matchAll(/<key-id>(?:0x)?([0-9a-fA-F]+)<\/key-id>/g)].map((m) => m[1]!.toLowerCase()))],
    };
  } finally {
    await close();
  }
}

async function plan(suite: string, file: string, links = 1): Promise<string> {
  writeFileSync(inv, stringify(inventory(suite, links)));
  const r = await run(["plan", inv, "--out", join(dir, file)]);
  expect(r.code, r.out + r.err).toBe(0);
  return join(dir, file);
}

beforeAll(async () => {
  [swA, swB, pgc] = await Promise.all([startNetconf(), startNetconf(), startPostgres()]);
  writeFileSync(join(dir, "known_hosts"), readFileSync(swA.knownHosts, "utf8") + readFileSync(swB.knownHosts, "utf8"));
}, 120_000);
afterAll(async () => {
  await Promise.all([swA?.stop(), swB?.stop(), pgc?.stop()]);
});

describe("one state per inventory, shared (real switches, real PostgreSQL)", () => {
  it("apply from two working directories, no state option: one key on the switches, and keys status agrees from both", async () => {
    const p = await plan("GCM-AES-XPN-256", "p1.json");
    const [w1, w2] = [join(dir, "work1"), join(dir, "work2")];
    for (const w of [w1, w2]) mkdirSync(w);
    const a = await run(["apply", p, ...access()], { cwd: w1 });
    expect(a.code, a.out + a.err).toBe(2);
    const b = await run(["apply", p, ...access()], { cwd: w2 });
    expect(b.code, b.out + b.err).toBe(0); // the same state: nothing to do, no second key
    expect(b.out).toMatch(/l1\s+macsec\s+unchanged/);
    for (const sw of [swA, swB]) expect((await onSwitch(sw)).ckns).toHaveLength(1);
    const s1 = await run(["keys", "status", "--inventory", inv, "--json"], { cwd: w1 });
    const s2 = await run(["keys", "status", "--inventory", inv, "--json"], { cwd: w2 });
    expect(s1.code, s1.err).toBe(0);
    const rows = (r: Run) =>
      (JSON.parse(r.out).keys as { key: string; ageDays: number | null }[]).map((k) => ({ key: k.key, set: k.ageDays !== null }));
    expect(rows(s1)).toEqual([{ key: "MKA CAK l1", set: true }]);
    expect(rows(s2)).toEqual(rows(s1));
    // the state is where the docs say, not in either working directory
    expect(readFileSync(join(stateHome, "state-lab.sqlite")).subarray(0, 15).toString()).toBe("SQLite format 3");
  }, 90_000);

  it("two applies at once on one PostgreSQL state: one acts, the other refuses and touches nothing", async () => {
    const p = await plan("GCM-AES-XPN-128", "p2.json");
    const env = { LINKCRYPT_TEST_PAUSE_AFTER_COMMIT_MS: "4000" };
    const [x, y] = await Promise.all([
      run(["apply", p, ...access(), ...pgState()], { env }),
      run(["apply", p, ...access(), ...pgState()], { env }),
    ]);
    const codes = [x.code, y.code].sort();
    expect(codes, x.out + x.err + y.out + y.err).toEqual([1, 2]);
    const refused = x.code === 1 ? x : y;
    expect(refused.err).toMatch(/another run holds the state lock of postgres .*: apply .*p2\.json \(pid \d+ on .*\); nothing was done/);
    const j = await journalOf(pgState());
    expect(new Set(j.filter((e) => e.step === "commit" && e.state === "started").map((e) => e.run)).size).toBe(1);
    for (const sw of [swA, swB]) expect(await onSwitch(sw)).toMatchObject({ suites: ["GCM_AES_XPN_128"] });
  }, 90_000);

  it("kill -9 of the lock holder between commit and confirm: the next run takes the lock over, cancels the orphaned commit and converges", async () => {
    const p = await plan("GCM-AES-XPN-256", "p3.json");
    const seen = (await journalOf(pgState())).length;
    const { child, done } = start(["apply", p, ...access(), ...pgState()], { env: { LINKCRYPT_TEST_PAUSE_AFTER_COMMIT_MS: "60000" } });
    await waitForEntry(pgState(), seen, (e) => e.step === "commit" && e.state === "done", child);
    expect((await onSwitch(swA)).suites).toEqual(["GCM_AES_XPN_256"]); // committed, not confirmed
    child.kill("SIGKILL");
    expect((await done).signal).toBe("SIGKILL");
    const r = await run(["apply", p, ...access(), ...pgState()]);
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.err).toMatch(
      /took over the state lock from a run that is gone \(apply .*p3\.json, pid \d+ on .*\); recovering from the journal/,
    );
    expect(r.err).toMatch(
      /a previous run left l1 committed but unconfirmed: sw-a cancelled \(cancel-commit by persist-id\), sw-b cancelled/,
    );
    for (const sw of [swA, swB]) expect(await onSwitch(sw)).toMatchObject({ suites: ["GCM_AES_XPN_256"] });
    const again = await run(["apply", p, ...access(), ...pgState()]);
    expect(again.code, again.out + again.err).toBe(0);
  }, 120_000);

  it("a wrong state key stops apply before any device is touched, and loses nothing", async () => {
    const p = await plan("GCM-AES-XPN-128", "p4.json");
    const r = await run(["apply", p, ...access(), "--state", pgc.url, "--state-key", "env:WRONG"], { env: { WRONG: "c".repeat(64) } });
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.err).toMatch(/the state key env:WRONG is not the key postgres .* was sealed with; nothing was changed/);
    expect(r.err).not.toMatch(/internal error|\n\s+at /);
    for (const sw of [swA, swB]) expect(await onSwitch(sw)).toMatchObject({ suites: ["GCM_AES_XPN_256"] });
    const status = await run(["keys", "status", "--inventory", inv, "--json", ...pgState()]);
    expect(JSON.parse(status.out).keys[0].ageDays).not.toBeNull();
  }, 60_000);
});

describe("interrupts (real signals)", () => {
  it("SIGINT between commit and confirm: both ends rolled back, the next link never starts, journal written, lock released, each link's state printed, exit 130", async () => {
    const before = await onSwitch(swA);
    const p = await plan("GCM-AES-XPN-128", "p5.json", 2);
    const seen = (await journalOf(pgState())).length;
    const { child, done } = start(["apply", p, ...access(), ...pgState(), "--concurrency", "1"], {
      env: { LINKCRYPT_TEST_PAUSE_AFTER_COMMIT_MS: "60000" },
    });
    await waitForEntry(pgState(), seen, (e) => e.step === "commit" && e.state === "done", child);
    const t0 = Date.now();
    child.kill("SIGINT");
    const r = await done;
    expect(r.code, r.out + r.err).toBe(130);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.err).toMatch(/SIGINT: stopping\. No new link starts/);
    expect(r.out).toMatch(/l\d\s+macsec\s+interrupted\s+interrupted after commit: both ends rolled back/);
    expect(r.out).toMatch(/l\d\s+macsec\s+interrupted\s+not started: interrupted/);
    for (const sw of [swA, swB]) expect((await onSwitch(sw)).suites).toEqual(before.suites); // rolled back at once, not at the deadline
    const j = (await journalOf(pgState())).slice(seen);
    expect(j.some((e) => e.step === "verify" && e.state === "rolled-back" && /interrupted/.test(e.detail ?? ""))).toBe(true);
    expect(j.filter((e) => e.step === "stage" && e.state === "started")).toHaveLength(1); // the second link never started
    // the lock is free and nothing is left pending: the next run just applies
    const next = await run(["apply", p, ...access(), ...pgState()]);
    expect(next.code, next.out + next.err).toBe(2);
    expect(next.err).not.toMatch(/previous run left|took over/);
  }, 120_000);

  it("SIGTERM, then a second signal: aborts at once, the journal is consistent, and the next run cancels and recovers", async () => {
    const p = await plan("GCM-AES-XPN-256", "p6.json", 2);
    const seen = (await journalOf(pgState())).length;
    // SQLite this time: its lock row must be released by the hard abort too
    const sqlite = ["--state", join(dir, "abort.sqlite")];
    const sseen = 0;
    // LINKCRYPT_TEST_STOP_DELAY_MS stands for a slow device: the first signal's rollback has not begun when the second comes
    const { child, done, said } = start(["apply", p, ...access(), ...sqlite, "--concurrency", "1"], {
      env: { LINKCRYPT_TEST_PAUSE_AFTER_COMMIT_MS: "60000", LINKCRYPT_TEST_STOP_DELAY_MS: "30000" },
    });
    await waitForEntry(sqlite, sseen, (e) => e.step === "commit" && e.state === "done", child);
    void seen;
    child.kill("SIGTERM");
    while (!said().includes("SIGTERM: stopping")) await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    child.kill("SIGTERM");
    const r = await done;
    expect(r.code, r.out + r.err).toBe(130);
    expect(r.err).toMatch(/SIGTERM again: aborting at once/);
    expect(Date.now() - t0).toBeLessThan(5000); // at once: not after the 30 s stand-in for a slow rollback
    // consistent: the journal has the commit, and no confirm or rollback for it
    const j = await journalOf(sqlite);
    expect(j.filter((e) => e.target === "l1").map((e) => `${e.step}:${e.state}`)).toEqual([
      "stage:started",
      "stage:done",
      "commit:started",
      "commit:done",
      "verify:started",
    ]);
    const next = await run(["apply", p, ...access(), ...sqlite]);
    expect(next.code, next.out + next.err).toBe(2);
    expect(next.err).not.toMatch(/another run holds the state lock/);
    expect(next.err).toMatch(
      /a previous run left l1 committed but unconfirmed: sw-a cancelled \(cancel-commit by persist-id\), sw-b cancelled/,
    );
    for (const sw of [swA, swB]) expect((await onSwitch(sw)).suites).toEqual(["GCM_AES_XPN_256", "GCM_AES_XPN_256"]);
    const again = await run(["apply", p, ...access(), ...sqlite]);
    expect(again.code, again.out + again.err).toBe(0);
  }, 120_000);

  it("SIGINT during rotate: the step in flight is rolled back on both ends (the old key keeps working), exit 130; the next rotate completes", async () => {
    const sqlite = ["--state", join(dir, "abort.sqlite")]; // the state the switches were last applied from
    const before = await Promise.all([onSwitch(swA), onSwitch(swB)]);
    const rotate = [
      "rotate",
      "link",
      "l1",
      "--inventory",
      inv,
      "--known-hosts",
      join(dir, "known_hosts"),
      ...sqlite,
      "--confirm-timeout",
      "30",
    ];
    const { child, done, said } = start(rotate, { env: { LINKCRYPT_TEST_PAUSE_AFTER_COMMIT_MS: "60000" } });
    const until = Date.now() + 30_000;
    // committed on both ends (the new key beside the old one), not yet confirmed
    while (!said().includes("l1: install-next-key started") || (await onSwitch(swB)).ckns.length !== before[1].ckns.length + 1) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`the rotation never committed: ${said()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill("SIGINT");
    const r = await done;
    expect(r.code, r.out + r.err).toBe(130);
    expect(r.out).toMatch(/l1: interrupted; unchanged: the old key on both ends/);
    expect(r.err).toMatch(/l1: install-next-key rolled-back/);
    for (const [i, sw] of [swA, swB].entries()) expect(new Set((await onSwitch(sw)).ckns)).toEqual(new Set(before[i]!.ckns));
    const j = await journalOf(sqlite);
    expect(j.some((e) => e.step === "rotate install-next-key" && e.state === "rolled-back" && /interrupted/.test(e.detail ?? ""))).toBe(
      true,
    );
    // lock released; the rotation resumes with the stored next key and completes
    const next = await run(rotate);
    expect(next.code, next.out + next.err).toBe(2);
    const after = await onSwitch(swA);
    expect(after.ckns).toHaveLength(before[0].ckns.length);
    expect(new Set(after.ckns)).not.toEqual(new Set(before[0].ckns));
  }, 120_000);
});
