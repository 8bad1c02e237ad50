import { describe, expect, it } from "vitest";
import type { LinkPlan, Plan } from "../../src/planner/plan-types.js";
import { deviceTargets, limitedVerify, type DeviceCheck, type DeviceScheduler } from "../../src/serve/devices.js";
import { Reconciler, type ServeOptions, type ServeTarget } from "../../src/serve/reconciler.js";
import type { VerifyReport } from "../../src/verify/verify.js";
import { FakeClock } from "./serve-fakes.js";

/**
 * serve's periodic device checks against a FAKE clock (no real sleeping: time moves only when the test advances it),
 * FAKE devices and a FAKE limiter that records what went through it.
 */
const link = (name: string, method: string, extra: Record<string, unknown>) => ({ name, method, ...extra }) as unknown as LinkPlan;
const plan = {
  inventory: "inv",
  links: [
    link("wave", "l1", { l1: { encryptors: ["enc-a", "enc-b"] } }),
    link("sw-link", "macsec", { a: "sw1:et-0/0/1", b: "sw2:Ethernet1" }),
    link("inet", "host-mesh", {}),
  ],
  meshes: [],
  inputs: { inventoryDigest: "d", profilesDigest: "p" },
  generator: "test",
} as unknown as Plan;

const emptyReport = (): VerifyReport => ({
  format: "linkcrypt-verify",
  version: 1,
  plan: plan.inputs,
  observedAt: new Date(0).toISOString(),
  entries: [],
});

function fakeLimiter(): DeviceScheduler & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    schedule: (d, fn) => {
      calls.push([d]);
      return fn();
    },
    scheduleDevices: (ds, fn) => {
      calls.push([...ds]);
      return fn();
    },
  };
}

function setup(o: Partial<ServeOptions> = {}, failing = new Set<string>()) {
  const clock = new FakeClock();
  const limiter = fakeLimiter();
  const checks: { device: string; at: number }[] = [];
  const target: ServeTarget = {
    plan,
    meshes: [],
    verify: async () => emptyReport(),
    devices: deviceTargets(plan),
    checkDevice: async (name): Promise<DeviceCheck> => {
      checks.push({ device: name, at: clock.now() });
      if (failing.has(name)) throw new Error(`${name}: connection timed out`);
      const port = name.startsWith("enc") ? "line" : name === "sw1" ? "et-0/0/1" : "Ethernet1";
      return [{ port, status: "secured", detail: "fake", keyAgeSeconds: 60 }];
    },
  };
  const rec = new Reconciler(
    {
      load: async () => target,
      journal: { append: async () => undefined, journal: async () => [] },
      leadership: { tryAcquire: async () => true, check: async () => true, release: async () => undefined },
      log: { log: () => undefined },
      clock,
      limiter,
    },
    { verifyIntervalMs: 3_600_000, deviceIntervalMs: 300_000, heartbeatMs: 3_600_000, watch: false, ...o },
  );
  const done = rec.run();
  return { clock, limiter, checks, rec, done };
}

describe("deviceTargets", () => {
  it("lists each switch and encryptor with the link ends it carries; mesh links have none", () => {
    expect(deviceTargets(plan)).toEqual([
      { name: "enc-a", kind: "encryptor", ends: [{ link: "wave", port: "line" }] },
      { name: "enc-b", kind: "encryptor", ends: [{ link: "wave", port: "line" }] },
      { name: "sw1", kind: "switch", ends: [{ link: "sw-link", port: "et-0/0/1" }] },
      { name: "sw2", kind: "switch", ends: [{ link: "sw-link", port: "Ethernet1" }] },
    ]);
  });
});

describe("periodic device checks (fake clock)", () => {
  it("checks every device once per period through the limiter, and not before", async () => {
    const s = setup();
    await s.clock.advance(0);
    expect(s.checks).toEqual([]);
    await s.clock.advance(299_000);
    expect(s.checks).toEqual([]);
    await s.clock.advance(1_000);
    expect(s.checks.map((c) => c.device).sort()).toEqual(["enc-a", "enc-b", "sw1", "sw2"]);
    // Each went through the limiter as one device.
    expect(
      s.limiter.calls
        .filter((c) => c.length === 1)
        .map((c) => c[0])
        .sort(),
    ).toEqual(["enc-a", "enc-b", "sw1", "sw2"]);
    await s.clock.advance(300_000);
    expect(s.checks).toHaveLength(8);
    s.rec.stop();
    await s.done;
  });

  it("each period varies within ±10 % (random 0 -> 0.9x, random 1 -> 1.1x)", async () => {
    for (const [rnd, first] of [
      [0, 270_000],
      [0.999999, 330_000],
    ] as const) {
      const s = setup();
      s.clock.rnd = rnd;
      const t0 = s.clock.now();
      await s.clock.advance(first - 1_000);
      expect(s.checks, `random ${rnd}`).toEqual([]);
      await s.clock.advance(2_000);
      expect(s.checks.length, `random ${rnd}`).toBe(4);
      expect(Math.abs(s.checks[0]!.at - t0 - first)).toBeLessThanOrEqual(1);
      s.rec.stop();
      await s.done;
    }
  });

  it("a successful check sets the device's last success, and a link's once all its ends read secured; a failed one does not", async () => {
    const s = setup({}, new Set(["sw2"]));
    await s.clock.advance(300_000);
    const snap = s.rec.snapshot();
    const ok = new Map(snap.lastOk.map((l) => [`${l.kind}|${l.name}`, l.at]));
    expect(ok.get("device|enc-a")).toBe(s.clock.now());
    expect(ok.get("device|sw1")).toBe(s.clock.now());
    expect(ok.has("device|sw2")).toBe(false);
    expect(ok.get("link|wave")).toBe(s.clock.now());
    expect(ok.has("link|sw-link")).toBe(false);
    expect(snap.counters.deviceChecks).toEqual({ ok: 3, failed: 1 });
    expect(snap.devices.find((d) => d.name === "sw2")).toMatchObject({ ok: false, error: "sw2: connection timed out" });
    s.rec.stop();
    await s.done;
  });

  it("a slow check is never started twice on the same device", async () => {
    const clock = new FakeClock();
    let started = 0;
    let release!: () => void;
    const target: ServeTarget = {
      plan: { ...plan, links: [plan.links[0]!] },
      meshes: [],
      verify: async () => emptyReport(),
      devices: [{ name: "enc-a", kind: "encryptor", ends: [{ link: "wave", port: "line" }] }],
      checkDevice: () => {
        started++;
        return new Promise((r) => (release = () => r([{ port: "line", status: "secured", detail: "fake" }])));
      },
    };
    const rec = new Reconciler(
      {
        load: async () => target,
        journal: { append: async () => undefined, journal: async () => [] },
        leadership: { tryAcquire: async () => true, check: async () => true, release: async () => undefined },
        log: { log: () => undefined },
        clock,
        limiter: fakeLimiter(),
      },
      { verifyIntervalMs: 3_600_000, deviceIntervalMs: 300_000, heartbeatMs: 3_600_000, watch: false },
    );
    const done = rec.run();
    await clock.advance(300_000);
    await clock.advance(600_000);
    expect(started).toBe(1);
    release();
    await clock.advance(300_000);
    expect(started).toBe(2);
    release();
    rec.stop();
    await done;
  });
});

describe("limitedVerify", () => {
  it("verifies each encrypted link under both its devices' limits and the rest once, merged in the plan's order", async () => {
    const limiter = fakeLimiter();
    const parts: string[][] = [];
    const r = await limitedVerify(plan, limiter, async (part) => {
      parts.push(part.links.map((l) => l.name));
      return {
        ...emptyReport(),
        observedAt: new Date(parts.length * 1000).toISOString(),
        entries: part.links.map((l) => ({
          kind: "link" as const,
          name: l.name,
          method: l.method,
          status: "secured" as const,
          evidence: [],
          observedAt: "x",
        })),
      };
    });
    expect(limiter.calls).toEqual([
      ["enc-a", "enc-b"],
      ["sw1", "sw2"],
    ]);
    expect(parts).toEqual([["inet"], ["wave"], ["sw-link"]]);
    expect(r.entries.map((e) => e.name)).toEqual(["wave", "sw-link", "inet"]);
    expect(r.observedAt).toBe(new Date(3000).toISOString());
  });
});
