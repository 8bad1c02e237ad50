import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FakeViciMesh, fakeMeshPlan } from "../../bench/fake-vici.js";
import { checkPairs } from "../../src/mesh/check-pairs.js";
import { collectTables } from "../../src/mesh/operations.js";
import { syntheticMeshTables } from "../../src/mesh/synthetic-sas.js";
import { fullEntries, leanEntries, leanOf, leanSweep, mergeLean, SideStore } from "../../src/serve/sweep.js";
import type { VerifyReport } from "../../src/verify/verify.js";

/** The lean sweep gives mesh verify's verdicts: against FAKE VICI peers, and on synthetic tables with a kernel view. */
describe("leanSweep against FAKE VICI peers", () => {
  it("gives the same status for every pair as checkPairs over all tables, and leaves an unreadable host unknown", async () => {
    const hosts = Array.from({ length: 10 }, (_, i) => `h${String(i).padStart(2, "0")}`);
    const dir = mkdtempSync(join(tmpdir(), "lc-sweep-"));
    const fake = new FakeViciMesh(dir, hosts);
    await fake.start();
    try {
      fake.establishAll();
      fake.dropPair("h01", "h02");
      fake.dropSide("h03", "h04");
      fake.kill("h05");
      const mesh = fakeMeshPlan("m", hosts);
      const r = await leanSweep(mesh, fake.access(), { batch: 3 });
      const { tables } = await collectTables(fake.access());
      const pairs: [string, string][] = [];
      for (let i = 0; i < hosts.length; i++) for (let j = i + 1; j < hosts.length; j++) pairs.push([hosts[i]!, hosts[j]!]);
      const want = new Map(checkPairs(pairs, tables, { idleAfterS: 300 }).map((f) => [`m:${f.a}~${f.b}`, f.status]));
      const got = new Map([...leanEntries(r.lean)].map((e) => [e.name, e.evidence[0]!.split(":")[0]]));
      expect(got.size).toBe(45);
      expect(Object.fromEntries(got)).toEqual(Object.fromEntries(want));
      expect(got.get("m:h01~h02")).toBe("down");
      expect(got.get("m:h03~h04")).toBe("half");
      expect(got.get("m:h00~h05")).toBe("unknown");
      expect(r.errors.map((e) => e.host)).toEqual(["h05"]);
      expect(r.counts.secured).toBe([...want.values()].filter((s) => s === "up" || s === "idle").length);

      // Merged into a report: only what is not secured is kept as entries; the rest comes back on demand.
      const base: VerifyReport = {
        format: "linkcrypt-verify",
        version: 1,
        plan: { inventoryDigest: "d", profilesDigest: "p" } as never,
        observedAt: "2026-01-01T00:00:00.000Z",
        entries: [],
      };
      const merged = mergeLean(base, [r]);
      expect(merged.entries.every((e) => e.status !== "secured")).toBe(true);
      expect(merged.entries.some((e) => e.name === "m:h05")).toBe(true);
      expect(leanOf(merged)).toHaveLength(1);
      expect(JSON.stringify(merged)).not.toContain("lean");
      const all = fullEntries(merged);
      expect(all.filter((e) => e.name.includes("~"))).toHaveLength(45);
      expect(all.filter((e) => e.name === "m:h05")).toHaveLength(1);
    } finally {
      await fake.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("SideStore", () => {
  it("rebuilt one-peer sides give checkPairs' verdicts with kernel SPIs and policies, odd shapes included", () => {
    const { hosts, pairs, tables } = syntheticMeshTables(6);
    // Odd shapes: a second CHILD_SA (duplicate), a CONNECTING IKE_SA with no child (stuck), a side gone (half).
    const t0 = tables[0]!;
    t0.children.push({ ...t0.children[0]!, spiIn: "deadbeef", spiOut: "feedface" });
    tables[1]!.ike.push({ conn: "mesh-h00005", state: "CONNECTING", children: 0 });
    tables[2]!.children = tables[2]!.children.filter((c) => c.conn !== "mesh-h00003");
    tables[2]!.ike = tables[2]!.ike.filter((c) => c.conn !== "mesh-h00003");
    // Kernel: h00004 lost one SA from its kernel; h00003 has no ESP policy towards h00001.
    const kernelSpis = new Map(tables.map((t) => [t.host, new Set(t.children.flatMap((c) => [c.spiIn, c.spiOut]))]));
    const dropped = tables[4]!.children[0]!.spiIn;
    kernelSpis.get("h00004")!.delete(dropped);
    const protection = new Map(hosts.map((h) => [h, new Map(hosts.filter((p) => p !== h).map((p) => [p, "esp" as const]))]));
    protection.get("h00003")!.set("h00001", "none" as never);
    const want = checkPairs(pairs, tables, { idleAfterS: 300, kernelSpis, protection });

    const index = new Map(hosts.map((h, i) => [h, i]));
    const store = new SideStore(hosts);
    tables.forEach((t, i) => void store.put(i, t, index, { spis: kernelSpis.get(t.host)!, protection: protection.get(t.host)! as never }));
    const info = { ok: true, halfOpen: 0, plugins: [], usesKernel: true, ikeSas: 0, childSas: 0 };
    const got = pairs.map(([a, b]) => {
      const [ai, bi] = [index.get(a)!, index.get(b)!];
      const sa = store.side(ai, bi, info);
      const sb = store.side(bi, ai, info);
      return checkPairs([[a, b]], [sa.table, sb.table], {
        idleAfterS: 300,
        kernelSpis: new Map([
          [a, sa.kernelSpis],
          [b, sb.kernelSpis],
        ]),
        protection: new Map([
          [a, new Map([[b, store.protection(ai, bi)!]])],
          [b, new Map([[a, store.protection(bi, ai)!]])],
        ]),
      })[0]!;
    });
    expect(got.map((f) => [f.a, f.b, f.status, f.detail])).toEqual(want.map((f) => [f.a, f.b, f.status, f.detail]));
    // The odd shapes do show: not a trivially all-up mesh.
    expect(want.filter((f) => f.status !== "up").map((f) => `${f.a}~${f.b} ${f.status}`)).toEqual([
      "h00000~h00001 half",
      "h00000~h00004 half",
      "h00001~h00003 cleartext-possible",
      "h00002~h00003 half",
    ]);
  });
});

describe("the reconciler on a lean report (FAKE VICI peers)", () => {
  it("repairs the broken pair it lists, counts every pair for the breaker, and shows all pairs on demand", async () => {
    const { Reconciler } = await import("../../src/serve/reconciler.js");
    const hosts = Array.from({ length: 6 }, (_, i) => `h${i}`);
    const dir = mkdtempSync(join(tmpdir(), "lc-sweep-rec-"));
    const fake = new FakeViciMesh(dir, hosts);
    await fake.start();
    const journal: import("../../src/state/store.js").JournalEntry[] = [];
    try {
      fake.establishAll();
      fake.dropPair("h1", "h2");
      const mesh = fakeMeshPlan("m", hosts);
      const plan = {
        inventory: "inv",
        links: [],
        meshes: [mesh],
        inputs: { inventoryDigest: "d", profilesDigest: "p" },
        generator: "t",
      } as never;
      const base = (): VerifyReport => ({
        format: "linkcrypt-verify",
        version: 1,
        plan: { inventoryDigest: "d", profilesDigest: "p" } as never,
        observedAt: new Date().toISOString(),
        entries: [],
      });
      const rec = new Reconciler(
        {
          load: async () => ({
            plan,
            meshes: [{ mesh, hosts: fake.access() }],
            verify: async () => mergeLean(base(), [await leanSweep(mesh, fake.access(), { batch: 2 })]),
          }),
          journal: { append: async (e) => void journal.push(e), journal: async () => [...journal] },
          leadership: { tryAcquire: async () => true, check: async () => true, release: async () => undefined },
          log: { log: () => undefined },
        },
        // 1 broken pair of 15 is under a 10 % breaker share; counted against 1 pair (the lean entries) it would trip it.
        { verifyIntervalMs: 60_000, backoffMs: 20, watch: false, breakerShare: 0.1 },
      );
      const done = rec.run();
      const end = Date.now() + 5000;
      while (!journal.some((e) => e.step === "serve-repair" && e.state === "done") && Date.now() < end)
        await new Promise((r) => setTimeout(r, 20));
      const snap = rec.snapshot();
      expect(snap.breakers).toEqual([]);
      expect(journal.filter((e) => e.step === "serve-repair").map((e) => [e.target, e.state])).toEqual([
        ["m:h1~h2", "started"],
        ["m:h1~h2", "done"],
      ]);
      expect(snap.status!.entries.filter((e) => e.kind === "pair")).toHaveLength(15);
      expect(snap.status!.entries.find((e) => e.name === "m:h1~h2")!.status).toBe("secured");
      expect(snap.lastOk.filter((l) => l.kind === "pair")).toHaveLength(15);
      rec.stop();
      await done;
    } finally {
      await fake.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("leanSweep with kernel views (FAKE hosts)", () => {
  it("batched, with kernel SPIs and policies, gives mesh verify's verdict and detail for every pair", async () => {
    const { verifyMesh } = await import("../../src/mesh/operations.js");
    const { hosts, tables } = syntheticMeshTables(7);
    // Odd shapes and faults: a duplicate CHILD_SA, a lost side, a SPI missing from a kernel, a missing ESP policy.
    tables[0]!.children.push({ ...tables[0]!.children[1]!, spiIn: "deadbeef", spiOut: "feedface" });
    tables[2]!.children = tables[2]!.children.filter((c) => c.conn !== "mesh-h00003");
    tables[2]!.ike = tables[2]!.ike.filter((c) => c.conn !== "mesh-h00003");
    const addr = (h: string) => `10.0.0.${hosts.indexOf(h) + 1}`;
    const mesh = fakeMeshPlan("m", hosts);
    for (const m of mesh.members) (m as { ipv4?: string }).ipv4 = addr(m.name);
    const files = new Map<string, string>();
    const access = tables.map((t) => {
      const events = t.ike.map((i) => ({
        [i.conn]: {
          state: i.state,
          "child-sas": Object.fromEntries(
            t.children
              .filter((c) => c.conn === i.conn)
              .map((c, k) => [
                `${c.child}-${k}`,
                {
                  name: c.child,
                  state: c.state,
                  "spi-in": c.spiIn,
                  "spi-out": c.spiOut,
                  "use-in": String(c.useIn),
                  "use-out": String(c.useOut),
                  "install-time": String(c.installTime),
                },
              ]),
          ),
        },
      }));
      const spis = t.children
        .flatMap((c) => [c.spiIn, c.spiOut])
        .filter((x) => !(t.host === "h00004" && x === tables[4]!.children[0]!.spiIn));
      const policies = hosts
        .filter((p) => p !== t.host && !(t.host === "h00003" && p === "h00001"))
        .map(
          (p) =>
            `src ${addr(t.host)}/32 dst ${addr(p)}/32 \n\tdir out priority 367232 ptype main \n\ttmpl src 0.0.0.0 dst 0.0.0.0\n\t\tproto esp reqid 1 mode transport`,
        )
        .join("\n");
      const SEP = "=====linkcrypt=====";
      return {
        name: t.host,
        confDir: `/fake/${t.host}`,
        vici: async () =>
          ({
            stream: async () => ({ events: structuredClone(events), response: {} }),
            request: async () => ({ ikesas: { "half-open": "0" }, plugins: ["kernel-netlink"] }),
            close: () => undefined,
          }) as never,
        readFile: async (p: string) => files.get(p),
        writeFile: async (p: string, c: string) => void files.set(p, c),
        exec: async () =>
          `${spis.map((s) => `src 1 dst 2\n\tproto esp spi 0x${s} reqid 1 mode transport`).join("\n")}\n${SEP}\n${policies}\n${SEP}\nXfrmInNoStates 3\n`,
      };
    });
    const want = await verifyMesh(mesh, access);
    const got = await leanSweep(mesh, access, { batch: 3 });
    const lean = new Map([...leanEntries(got.lean)].map((e) => [e.name, e.evidence[0]]));
    expect(lean.size).toBe(21);
    for (const f of want.findings)
      expect(lean.get(`m:${f.a}~${f.b}`), `${f.a}~${f.b}`).toBe(
        `${f.status}: ${f.status === "up" ? "symmetric CHILD_SAs installed on both hosts" : f.detail}`,
      );
    // The faults do show (the kernel's missing SA as a half pair named after the kernel), so the comparison is not all-up.
    expect(want.findings.filter((f) => f.status !== "up").map((f) => `${f.a}~${f.b} ${f.status}`)).toEqual([
      "h00000~h00002 half",
      "h00000~h00004 half",
      "h00001~h00003 cleartext-possible",
      "h00002~h00003 half",
    ]);
    expect(lean.get("m:h00000~h00004")).toMatch(/kernel has no inbound SA/);
    expect(got.hosts.find((h) => h.host === "h00000")!.xfrmStat).toEqual({ XfrmInNoStates: 3 });
  });
});
