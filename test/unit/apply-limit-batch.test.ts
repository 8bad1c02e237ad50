import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type ApplyOptions, applyPlan, SKIPPED_BY_LIMIT } from "../../src/apply/apply.js";
import type { EndsFactory } from "../../src/apply/link-ends.js";
import { limitSelection } from "../../src/apply/run-apply.js";
import { runRotateLinks } from "../../src/apply/run-rotate.js";
import { keyAges } from "../../src/keys/status.js";
import { parseLimit } from "../../src/model/limit.js";
import { openState } from "../../src/state/open.js";
import { fakeClock, type SimDevice, simDevice, simPlan } from "../sim-driver.js";

const access = {
  knownHostsFile: "/dev/null",
  acceptNewHostKey: false,
  secrets: { env: {} },
  connectTimeoutMs: 1000,
  commandTimeoutMs: 1000,
};

/** Four simulated MACsec links l0..l3 (a<i> to b<i>), their devices kept across runs, on a fake clock. */
async function fixture(faulty: string[] = []) {
  const { plan, inv, profiles, dir } = simPlan(4, { name: "lb" });
  const clock = fakeClock();
  const devices = new Map<string, SimDevice>();
  const dev = (n: string) => {
    if (!devices.has(n)) devices.set(n, simDevice(n, { now: clock.now, faults: faulty.includes(n) ? { commit: true } : {} }));
    return devices.get(n)!;
  };
  const ends: EndsFactory = (link) => {
    const [a, b] = [link.a.split(":")[0]!, link.b.split(":")[0]!];
    return { ends: [dev(a).driver, dev(b).driver], observable: [true, true] };
  };
  const store = await openState({ state: join(dir, "state.sqlite"), inventory: "lb", secrets: { env: {} } });
  const apply = (more: Partial<ApplyOptions>) =>
    applyPlan(plan, inv, profiles, {
      access,
      store,
      run: "lb-run",
      confirmTimeoutS: 60,
      securedTimeoutMs: 1000,
      dryRun: false,
      maxFailPercent: 0,
      limits: { globalConcurrency: 8, perDeviceConcurrency: 1 },
      clock,
      ends,
      ...more,
    });
  const touched = () => [...devices.values()].filter((d) => d.ops.length > 0).map((d) => d.driver.device);
  return { plan, inv, profiles, store, apply, dev, devices, touched, clock };
}

describe("apply --limit", () => {
  it("touches only the selected links; the others are reported skipped (--limit) and their devices are never contacted", async () => {
    const f = await fixture();
    const selection = limitSelection(f.plan, f.inv, parseLimit("l1,a2"));
    const r = await f.apply({ limit: selection });
    expect(r.map((x) => `${x.target}:${x.outcome}`)).toEqual(["l0:skipped", "l1:changed", "l2:changed", "l3:skipped"]);
    expect(r.find((x) => x.target === "l0")!.detail).toBe(SKIPPED_BY_LIMIT);
    expect(f.touched().sort()).toEqual(["a1", "a2", "b1", "b2"]);
    // no key was generated for a skipped link
    expect(await f.store.getSecret("macsec/l0")).toBeUndefined();
    expect(await f.store.getSecret("macsec/l1")).toBeDefined();
    await f.store.close();
  });

  it("selects by site and excludes with !: 'b,!l3' is every link with an end in site b except l3", async () => {
    const f = await fixture();
    expect([...limitSelection(f.plan, f.inv, parseLimit("b,!l3")).links].sort()).toEqual(["l0", "l1", "l2"]);
    expect(() => limitSelection(f.plan, f.inv, parseLimit("nosuch*"))).toThrow(/matches no link, device, site or host/);
    await f.store.close();
  });
});

describe("apply --batch", () => {
  it("runs the targets in consecutive batches, in order, and says which batch each was in", async () => {
    const f = await fixture();
    const order: string[] = [];
    for (const n of ["a0", "a1", "a2", "a3"]) {
      const d = f.dev(n);
      const commit = d.driver.commit;
      d.driver.commit = async (o) => (order.push(n), commit(o));
    }
    const r = await f.apply({ batch: { count: 2 } });
    expect(r.map((x) => `${x.target}:${x.outcome}:${x.batch}`)).toEqual(["l0:changed:1", "l1:changed:1", "l2:changed:2", "l3:changed:2"]);
    // batch 2 starts only after batch 1 is done
    expect(order.slice(0, 2).sort()).toEqual(["a0", "a1"]);
    expect(order.slice(2).sort()).toEqual(["a2", "a3"]);
  });

  it("50% of four links is two batches of two", async () => {
    const f = await fixture();
    const r = await f.apply({ batch: { percent: 50 } });
    expect(r.map((x) => x.batch)).toEqual([1, 1, 2, 2]);
  });

  it("a failing batch stops the later batches: their devices are never touched", async () => {
    const f = await fixture(["b0"]);
    const r = await f.apply({ batch: { count: 2 } });
    expect(r.map((x) => `${x.target}:${x.outcome}:${x.batch}`)).toEqual(["l0:failed:1", "l1:changed:1", "l2:failed:2", "l3:failed:2"]);
    expect(r.find((x) => x.target === "l2")!.detail).toMatch(/not attempted: more than 0% of targets failed by the end of batch 1/);
    expect(f.touched().sort()).toEqual(["a0", "a1", "b0", "b1"]);
  });

  it("--max-fail-percent lets later batches run while the failures stay within it", async () => {
    const f = await fixture(["b0"]);
    const r = await f.apply({ batch: { count: 2 }, maxFailPercent: 25 });
    expect(r.map((x) => `${x.target}:${x.outcome}`)).toEqual(["l0:failed", "l1:changed", "l2:changed", "l3:changed"]);
  });

  it("--limit and --batch together: batches are made of the selected links only", async () => {
    const f = await fixture();
    const r = await f.apply({ batch: { count: 1 }, limit: limitSelection(f.plan, f.inv, parseLimit("l0,l3")) });
    expect(r.map((x) => `${x.target}:${x.outcome}:${x.batch ?? "-"}`)).toEqual([
      "l0:changed:1",
      "l1:skipped:-",
      "l2:skipped:-",
      "l3:changed:2",
    ]);
  });
});

describe("rotate link with a glob, --limit and --batch", () => {
  async function rotate(f: Awaited<ReturnType<typeof fixture>>, o: { name: string; limit?: string; batch?: string }) {
    const ends: EndsFactory = (link) => ({
      ends: [f.dev(link.a.split(":")[0]!).driver, f.dev(link.b.split(":")[0]!).driver],
      observable: [true, true],
    });
    return runRotateLinks({
      ...o,
      plan: f.plan,
      inv: f.inv,
      profiles: f.profiles,
      store: f.store,
      access,
      confirmTimeoutS: 60,
      securedTimeoutMs: 1000,
      say: () => undefined,
      clock: f.clock,
      ends,
      interrupts: async (fn) => ({ value: await fn(new AbortController().signal), interrupted: false }),
    });
  }

  it("rotates every link the glob names and the limit selects, batch by batch; the rest is skipped (--limit)", async () => {
    const f = await fixture();
    await f.apply({});
    const r = await rotate(f, { name: "*", limit: "!l2", batch: "2" });
    expect(r.single).toBe(false);
    expect(r.links.map((x) => `${x.link}:${x.outcome}:${x.batch ?? "-"}`)).toEqual([
      "l2:skipped:-",
      "l0:rotated:1",
      "l1:rotated:1",
      "l3:rotated:2",
    ]);
    expect(f.dev("a2").tokens).toHaveLength(1); // only apply's commit
    expect(f.dev("a0").tokens).toHaveLength(3); // apply's, then rotate's two steps
  });

  it("a failed link stops the later batches", async () => {
    const f = await fixture();
    await f.apply({});
    f.dev("b0").faults.commit = true;
    const r = await rotate(f, { name: "l*", batch: "1" });
    expect(r.links.map((x) => `${x.link}:${x.outcome}`)).toEqual(["l0:failed", "l1:failed", "l2:failed", "l3:failed"]);
    expect(r.links[1]).toMatchObject({ detail: "not attempted: a link of batch 1 failed" });
    expect(f.dev("a1").tokens).toHaveLength(1);
  });

  it("one link by name, without --limit or --batch, keeps the one-link form", async () => {
    const f = await fixture();
    await f.apply({});
    const r = await rotate(f, { name: "l3" });
    expect(r.single).toBe(true);
    expect(r.links).toMatchObject([{ link: "l3", outcome: "rotated" }]);
  });
});

describe("keys status --limit", () => {
  it("lists only the keys of the selected links, with their ages from the stored creation times", async () => {
    const { plan, inv, profiles } = simPlan(3, { name: "ks" });
    const now = Date.parse("2026-03-01T00:00:00Z");
    const store = { secretCreatedAt: async (n: string) => (n === "macsec/l1" ? "2026-02-20T00:00:00Z" : undefined) };
    const all = await keyAges(plan, inv, profiles, store, { now, secretName: (m) => `mesh/${m}/psk-master` });
    expect(all.map((r) => r.key)).toEqual(["MKA CAK l0", "MKA CAK l1", "MKA CAK l2"]);
    const some = await keyAges(plan, inv, profiles, store, { now, secretName: (m) => `mesh/${m}/psk-master`, limit: "l1,a2" });
    expect(some.map((r) => `${r.key}:${r.ageDays}`)).toEqual(["MKA CAK l1:9", "MKA CAK l2:null"]);
    await expect(keyAges(plan, inv, profiles, store, { secretName: (m) => m, limit: "zz" })).rejects.toThrow(/"zz" matches no link/);
  });
});
