import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { generateFleet } from "../../examples/generate-fleet.js";
import { decidePair, hostTraits } from "../../src/planner/decide-pair.js";
import { decideLink } from "../../src/planner/decide-link.js";
import { sitePathFinder } from "../../src/planner/site-paths.js";
import { load, plan } from "../helpers.js";

describe("planner: plan-mesh", () => {
  it("pair classes add up to n(n-1)/2 pairs", () => {
    const p = plan(generateFleet({ hosts: 301, links: 30, sites: 7 }));
    const m = p.meshes[0]!;
    expect(m.pairs).toBe((301 * 300) / 2);
    expect(m.pairClasses.reduce((a, c) => a + c.pairs, 0)).toBe(m.pairs);
    expect(m.hostClasses.reduce((a, c) => a + c.hosts.length, 0)).toBe(301);
  });

  it("every pair, decided on its own, matches its class's decision", () => {
    const inv = generateFleet({ hosts: 40, links: 12, sites: 5 });
    const r = load(inv);
    const model = r.model!;
    const p = plan(inv);
    const m = p.meshes[0]!;
    const classOf = new Map(m.hostClasses.flatMap((c) => c.hosts.map((h) => [h, c.id] as const)));
    const pathOf = new Map(m.pathClasses.flatMap((c) => c.sitePairs.map((s) => [s, c.id] as const)));
    const linkPlans = new Map(model.links.map((l) => [l.name, decideLink(l, model.meshes).plan]));
    const between = sitePathFinder(model.links, linkPlans);
    const mesh = model.meshes[0]!;
    const seen = new Map<string, number>();
    const hosts = mesh.hosts;
    for (let i = 0; i < hosts.length; i++)
      for (let j = i + 1; j < hosts.length; j++) {
        const [a, b] = [hosts[i]!, hosts[j]!];
        let [ca, cb] = [classOf.get(a.name)!, classOf.get(b.name)!];
        let [x, y] = [a, b];
        if (Number(ca.slice(2)) > Number(cb.slice(2))) { [ca, cb] = [cb, ca]; [x, y] = [b, a]; }
        const sp = [a.site, b.site].sort().join("~");
        const pc = m.pairClasses.find((c) => c.hostClasses[0] === ca && c.hostClasses[1] === cb && c.pathClass === pathOf.get(sp))!;
        expect(pc, `${a.name}~${b.name}`).toBeDefined();
        const d = decidePair(hostTraits(x), hostTraits(y), between(x.site, y.site), mesh, model.policy, model.profiles.xfrmPerf);
        expect([d.method, d.cipher, d.sides?.map((s) => s.decision), d.mtu?.maxInnerMtu]).toEqual([pc.method, pc.cipher, pc.sides?.map((s) => s.decision), pc.mtu?.maxInnerMtu]);
        seen.set(pc.id, (seen.get(pc.id) ?? 0) + 1);
      }
    for (const c of m.pairClasses) expect(seen.get(c.id)).toBe(c.pairs);
  });

  it("a 2,000-host plan stays compact", () => {
    const p = plan(generateFleet({ hosts: 2000, links: 200 }));
    expect(p.meshes[0]!.pairs).toBe(1999000);
    expect(JSON.stringify(p).length).toBeLessThan(2_000_000);
  });

  it("the generated fleet round-trips through YAML", () => {
    const inv = generateFleet({ hosts: 10, links: 4, sites: 3 });
    expect(parse(stringify(inv))).toEqual(inv);
  });
});
