import { describe, expect, it } from "vitest";
import { checkPairs, xfrmStatDeltas } from "../../src/mesh/check-pairs.js";
import { connName } from "../../src/planner/conn-spec.js";
import { syntheticMeshTables } from "../../src/mesh/synthetic-sas.js";

describe("mesh: check-pairs", () => {
  it("on a 1,000-host table (~1M CHILD_SAs) finds exactly the injected faults", () => {
    const { hosts, pairs, tables } = syntheticMeshTables(1000);
    expect(tables.reduce((a, t) => a + t.children.length, 0)).toBe(999_000);
    const t = (h: string) => tables.find((x) => x.host === h)!;
    const [h1, h2, h3, h4, h5, h6, h7, h8, h9, h10] = hosts.slice(1, 11) as string[];
    // half: h5 lost its inbound SA for the pair with h9 (h9 keeps sending into it)
    t(h5!).children = t(h5!).children.filter((c) => c.conn !== connName(h9!));
    // duplicate: crossing initiations left 3 CHILD_SAs on h1 for h2
    const base = t(h1!).children.find((c) => c.conn === connName(h2!))!;
    t(h1!).children.push({ ...base, spiIn: "dead0001", spiOut: "dead0002" }, { ...base, spiIn: "dead0003", spiOut: "dead0004" });
    t(h2!).children.push(
      { ...t(h2!).children.find((c) => c.conn === connName(h1!))!, spiIn: "dead0002", spiOut: "dead0001" },
      { ...t(h2!).children.find((c) => c.conn === connName(h1!))!, spiIn: "dead0004", spiOut: "dead0003" },
    );
    // stuck: h3-h4 has no CHILD_SA and a CONNECTING IKE_SA
    for (const [x, y] of [
      [h3!, h4!],
      [h4!, h3!],
    ] as const) {
      t(x).children = t(x).children.filter((c) => c.conn !== connName(y));
      t(x).ike = t(x).ike.map((i) => (i.conn === connName(y) ? { ...i, state: "CONNECTING" } : i));
    }
    // down: h7-h8 has nothing at all
    for (const [x, y] of [
      [h7!, h8!],
      [h8!, h7!],
    ] as const) {
      t(x).children = t(x).children.filter((c) => c.conn !== connName(y));
      t(x).ike = t(x).ike.filter((i) => i.conn !== connName(y));
    }
    // idle: h6-h10 carries nothing for an hour
    for (const [x, y] of [
      [h6!, h10!],
      [h10!, h6!],
    ] as const)
      for (const c of t(x).children) if (c.conn === connName(y)) Object.assign(c, { useIn: 3600, useOut: 3600 });
    const f = checkPairs(pairs, tables, { idleAfterS: 300 });
    expect(f).toHaveLength(499_500);
    const bad = f
      .filter((x) => x.status !== "up")
      .map((x) => `${x.a}~${x.b}:${x.status}`)
      .sort();
    expect(bad).toEqual([`${h1}~${h2}:duplicate`, `${h3}~${h4}:stuck`, `${h5}~${h9}:half`, `${h6}~${h10}:idle`, `${h7}~${h8}:down`]);
    const half = f.find((x) => x.status === "half")!;
    expect(half.severity).toBe("critical");
    expect(half.detail).toMatch(new RegExp(`^${h9} sends on SPI \\w+ that ${h5} has no inbound SA for$`));
  });

  it("a rekey overlap (2 CHILD_SAs each side) is normal", () => {
    const { pairs, tables } = syntheticMeshTables(2);
    const [a, b] = tables;
    a!.children.push({ ...a!.children[0]!, spiIn: "01", spiOut: "02" });
    b!.children.push({ ...b!.children[0]!, spiIn: "02", spiOut: "01" });
    expect(checkPairs(pairs, tables, { idleAfterS: 300 })[0]!.status).toBe("up");
  });

  it("compares daemon SPIs with the kernel's where they are given", () => {
    const { pairs, tables } = syntheticMeshTables(2);
    const [a, b] = tables;
    const kernel = new Map([
      [a!.host, new Set([a!.children[0]!.spiIn, a!.children[0]!.spiOut])],
      [b!.host, new Set([b!.children[0]!.spiIn])],
    ]);
    const f = checkPairs(pairs, tables, { idleAfterS: 300, kernelSpis: kernel });
    expect(f[0]!.status).toBe("no-kernel-sa");
    expect(f[0]!.detail).toContain(`${b!.children[0]!.spiOut} on ${b!.host}`);
  });

  it("a missing table is unknown, not down", () => {
    const { pairs, tables } = syntheticMeshTables(3);
    expect(checkPairs(pairs, tables.slice(1), { idleAfterS: 300 }).filter((f) => f.status === "unknown")).toHaveLength(2);
  });

  it("maps xfrm_stat increases to likely causes", () => {
    expect(xfrmStatDeltas({ XfrmInNoStates: 3, XfrmOutPolBlock: 0 }, { XfrmInNoStates: 10, XfrmOutPolBlock: 0, XfrmInError: 0 })).toEqual([
      { counter: "XfrmInNoStates", delta: 7, cause: "a peer is sending on an SA we don't have (half pair, or a stale SA after a restart)" },
    ]);
  });
});
