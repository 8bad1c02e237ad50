import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FakeViciMesh } from "../../bench/fake-vici.js";
import { checkPairs } from "../../src/mesh/check-pairs.js";
import { collectTables } from "../../src/mesh/operations.js";
import type { MeshPlan, Plan } from "../../src/planner/plan-types.js";
import { metricsText } from "../../src/serve/http.js";
import type { Leadership } from "../../src/serve/leader.js";
import { Reconciler, pairStatus, type ServeOptions, type ServeTarget } from "../../src/serve/reconciler.js";
import type { JournalEntry } from "../../src/state/store.js";
import { ViciClient, type ViciMessage } from "../../src/transport/vici.js";
import type { VerifyReport } from "../../src/verify/verify.js";

/**
 * The reconciler against FAKE VICI peers (bench/fake-vici.ts): event streams, pair checks and repairs go over real
 * UNIX sockets to in-process fakes; time for backoffs is real but short.
 */
const HOSTS = ["h1", "h2", "h3", "h4"];
let dir: string;
let fake: FakeViciMesh;
let journal: JournalEntry[];
let running: { rec: Reconciler; done: Promise<void> }[];

const mesh = {
  name: "m",
  pairs: 6,
  members: HOSTS.map((name) => ({ name, site: "s", hostClass: "c" })),
  ike: { dpdSeconds: 30 },
} as unknown as MeshPlan;
const plan = {
  inventory: "inv",
  links: [],
  meshes: [mesh],
  inputs: { inventoryDigest: "d", profilesDigest: "p" },
  generator: "test",
} as unknown as Plan;

async function fullVerify(): Promise<VerifyReport> {
  const { tables } = await collectTables(fake.access());
  const pairs: [string, string][] = [];
  for (let i = 0; i < HOSTS.length; i++) for (let j = i + 1; j < HOSTS.length; j++) pairs.push([HOSTS[i]!, HOSTS[j]!]);
  const at = new Date().toISOString();
  return {
    format: "linkcrypt-verify",
    version: 1,
    inventory: "inv",
    plan: plan.inputs,
    observedAt: at,
    entries: checkPairs(pairs, tables, { idleAfterS: 300 }).map((f) => ({
      kind: "pair",
      name: `m:${f.a}~${f.b}`,
      method: "host-mesh",
      status: pairStatus(f),
      evidence: [`${f.status}: ${f.detail}`],
      observedAt: at,
    })),
  };
}

function start(
  o: Partial<ServeOptions> = {},
  leadership: Leadership = { tryAcquire: async () => true, check: async () => true, release: async () => undefined },
) {
  const target: ServeTarget = { plan, meshes: [{ mesh, hosts: fake.access() }], verify: fullVerify };
  const rec = new Reconciler(
    {
      load: async () => target,
      journal: { append: async (e) => void journal.push(e), journal: async () => [...journal] },
      leadership,
      log: { log: () => undefined },
    },
    { verifyIntervalMs: 60_000, backoffMs: 20, standbyPollMs: 50, heartbeatMs: 100, ...o },
  );
  const r = { rec, done: rec.run() };
  running.push(r);
  return rec;
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const repairs = (state?: string) => journal.filter((e) => e.step === "serve-repair" && (!state || e.state === state));

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "lc-serve-unit-"));
  fake = new FakeViciMesh(dir, HOSTS);
  await fake.start();
  fake.establishAll();
  journal = [];
  running = [];
});
afterEach(async () => {
  for (const r of running) {
    r.rec.stop();
    await r.done;
  }
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("ViciClient.listen", () => {
  it("delivers registered events and settles `closed` when charon goes away", async () => {
    const v = await ViciClient.connect({ device: "h1", socketPath: fake.socketOf("h1") });
    const got: [string, ViciMessage][] = [];
    await v.listen(["child-updown", "ike-updown"], (ev, m) => got.push([ev, m]));
    fake.dropPair("h1", "h2");
    await until("event", () => got.length === 1);
    expect(got[0]![0]).toBe("child-updown");
    expect(Object.keys(got[0]![1])).toEqual(["mesh-h2"]);
    fake.kill("h1");
    const why = await v.closed;
    expect(why.message).toMatch(/closed/);
  });
});

describe("serve reconciler (fake VICI peers)", () => {
  it("a pair dropped on both sides is repaired from its child-updown, once, with the reason in the journal", async () => {
    const rec = start();
    await until("first verify", () => rec.snapshot().ready);
    await until("watching", () => rec.snapshot().watching.filter((w) => w.connected).length === 4);
    fake.dropPair("h2", "h3");
    await until("repaired", () => repairs("done").length === 1);
    expect(fake.isUp("h2", "h3")).toBe(true);
    const runs = repairs();
    expect(runs.map((e) => e.state)).toEqual(["started", "done"]);
    expect(runs[0]!.target).toBe("m:h2~h3");
    expect(runs[0]!.detail).toMatch(/child-updown \(down\) on h[23].*pair down/);
    expect(new Set(runs.map((e) => e.run)).size).toBe(1);
    expect(rec.snapshot().counters.repairs.repaired).toBe(1);
    expect(rec.reactions).toHaveLength(1);
  });

  it("a half pair (one side lost its SA) is repaired", async () => {
    const rec = start();
    await until("watching", () => rec.snapshot().watching.filter((w) => w.connected).length === 4);
    fake.dropSide("h4", "h1");
    await until("repaired", () => repairs("done").length === 1);
    expect(repairs("started")[0]!.detail).toMatch(/pair half/);
    expect(fake.isUp("h1", "h4")).toBe(true);
  });

  it("a host whose charon keeps dying trips its breaker: an alert, and its pairs are no longer retried", async () => {
    const rec = start({ maxAttempts: 1, flapLimit: 3 });
    await until("watching", () => rec.snapshot().watching.filter((w) => w.connected).length === 4);
    for (let i = 0; i < 3; i++) {
      fake.kill("h3");
      await until("stream lost", () => rec.snapshot().watching.find((w) => w.host === "h3")?.connected === false);
      fake.revive("h3");
      if (i < 2) await until("back", () => rec.snapshot().watching.find((w) => w.host === "h3")?.connected === true, 8000);
    }
    await until("breaker", () => rec.snapshot().breakers.some((b) => b.host === "h3"));
    expect(rec.snapshot().counters.breakerTrips.host).toBe(1);
    expect(journal.some((e) => e.step === "serve-breaker" && e.target === "h3")).toBe(true);
    expect(metricsText(rec.snapshot(), Date.now())).toMatch(/linkcrypt_serve_breaker_open\{inventory="inv",scope="host",host="h3"\} 1/);
    const before = repairs("started").length;
    fake.dropPair("h3", "h1");
    await new Promise((r) => setTimeout(r, 300));
    expect(repairs("started").length).toBe(before);
    expect(fake.isUp("h1", "h3")).toBe(false);
  });

  it("more than the set share of pairs broken at once trips the global breaker: nothing is repaired", async () => {
    fake.dropPair("h1", "h2");
    fake.dropPair("h1", "h3");
    fake.dropPair("h1", "h4");
    fake.dropPair("h2", "h3");
    const rec = start({ watch: false });
    await until("breaker", () => rec.snapshot().breakers.some((b) => b.scope === "global"));
    await new Promise((r) => setTimeout(r, 200));
    expect(repairs()).toHaveLength(0);
    expect(rec.snapshot().breakers[0]!.reason).toMatch(/4 of 6 pairs broken/);
  });

  it("a new leader finishes the previous leader's repair from the journal, never doing it twice", async () => {
    // Run r-up: the old leader re-initiated before it died (the pair is up). Run r-down: it died before acting.
    fake.dropPair("h1", "h4");
    journal.push({ at: "t", run: "r-up", step: "serve-repair", target: "m:h2~h3", state: "started", detail: "child-updown (down) on h2" });
    journal.push({
      at: "t",
      run: "r-down",
      step: "serve-repair",
      target: "m:h1~h4",
      state: "started",
      detail: "child-updown (down) on h1",
    });
    const rec = start({ watch: false });
    await until("both closed", () => repairs().filter((e) => e.state !== "started").length === 2);
    await until("ready", () => rec.snapshot().ready);
    const byRun = (r: string) =>
      repairs()
        .filter((e) => e.run === r)
        .map((e) => e.state);
    expect(byRun("r-up")).toEqual(["started", "done"]);
    expect(repairs().find((e) => e.run === "r-up" && e.state === "done")!.detail).toMatch(
      /found up after the takeover, so it was not repaired again/,
    );
    expect(byRun("r-down")).toEqual(["started", "done"]);
    expect(fake.initiated.map((x) => x.pair)).toEqual(["h1~h4"]);
    expect(repairs("started")).toHaveLength(2); // no new run was started for either pair
  });

  it("stop() (SIGTERM) in the middle of a repair finishes it, closes its run and releases the lead", async () => {
    let released = false;
    const rec = start(
      { testRepairDelayMs: 300 },
      { tryAcquire: async () => true, check: async () => true, release: async () => void (released = true) },
    );
    await until("watching", () => rec.snapshot().watching.filter((w) => w.connected).length === 4);
    const done = running.at(-1)!.done;
    fake.dropPair("h1", "h2");
    await until("started", () => repairs("started").length === 1);
    rec.stop();
    await done;
    expect(repairs().map((e) => e.state)).toEqual(["started", "done"]);
    expect(fake.isUp("h1", "h2")).toBe(true);
    expect(journal.at(-1)!.step).toBe("serve-stop");
    expect(released).toBe(true);
    expect(rec.snapshot().role).toBe("stopped");
  });

  it("a standby does not act until it gets the lead", async () => {
    let lead = false;
    const rec = start({}, { tryAcquire: async () => lead, check: async () => lead, release: async () => undefined });
    await new Promise((r) => setTimeout(r, 200));
    expect(rec.snapshot().role).toBe("standby");
    expect(rec.snapshot().ready).toBe(false);
    lead = true;
    await until("leader", () => rec.snapshot().ready);
    expect(journal.some((e) => e.step === "serve-lead")).toBe(true);
  });
});

describe("serve metrics text", () => {
  it("carries MACsec key ages from the state store and plan pending, and passes promtool", async () => {
    const { promtoolCheck } = await import("../lab/serve-proc.js");
    const snap = {
      role: "leader" as const,
      ready: true,
      startedAt: 0,
      plan,
      status: await fullVerify(),
      lastVerifyAt: 1000,
      breakers: [],
      counters: {
        repairs: { repaired: 2 },
        failures: {},
        breakerTrips: {},
        events: { "child-updown": 4 },
        reconnects: 0,
        deviceChecks: { ok: 3 },
        autoActions: { "drift|done": 1 },
      },
      autoApply: true,
      devices: [{ name: "enc1", kind: "encryptor" as const, ok: false, at: 9000, error: "timeout" }],
      lastOk: [{ kind: "pair" as const, name: "m:h1~h2", at: 5000 }],
      watching: [{ host: "h1", connected: true }],
      keyAges: [
        { key: "l1", kind: "macsec-cak" as const, createdAtMs: 10_000 - 86_400_000, source: "state" as const },
        { key: "m", kind: "mesh-psk-master" as const, createdAtMs: 4_000, source: "journal" as const },
      ],
      planPending: "inventory.yaml changed",
    };
    const text = metricsText(snap, 10_000);
    // Aged at the scrape (now = 10 s), not when the stamps were read.
    expect(text).toMatch(/^linkcrypt_key_age_seconds\{key="l1",kind="macsec-cak"\} 86400$/m);
    expect(text).toMatch(/^linkcrypt_key_age_seconds\{key="m",kind="mesh-psk-master"\} 6$/m);
    expect(text).toMatch(/^linkcrypt_serve_plan_pending\{inventory="inv"\} 1$/m);
    expect(text).toMatch(/^linkcrypt_serve_repairs_total\{inventory="inv",result="repaired"\} 2$/m);
    expect(text).toMatch(/^linkcrypt_pair_status\{mesh="m",pair="h1~h2",status="secured"\} 1$/m);
    expect(text).toMatch(/^linkcrypt_serve_auto_actions_total\{inventory="inv",kind="drift",result="done"\} 1$/m);
    expect(text).toMatch(/^linkcrypt_serve_device_checks_total\{inventory="inv",result="ok"\} 3$/m);
    expect(text).toMatch(/^linkcrypt_serve_device_up\{inventory="inv",device="enc1",kind="encryptor"\} 0$/m);
    const c = promtoolCheck(text);
    expect(c.code, c.out).toBe(0);
  });
});

describe("serve CLI", () => {
  it("a malformed --listen or --log-format is a usage error (exit 64); --help names the endpoints", async () => {
    const { cli } = await import("../cli-run.js");
    const bad = await cli("serve", "examples/mesh-lab.yaml", "--listen", "9469");
    expect(bad.code).toBe(64);
    expect(bad.err).toMatch(/--listen takes HOST:PORT/);
    const port = await cli("serve", "examples/mesh-lab.yaml", "--listen", "127.0.0.1:70000");
    expect(port.code).toBe(64);
    const help = await cli("serve", "--help");
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/\/metrics, \/healthz, \/readyz, \/api\/status/);
  });
});
