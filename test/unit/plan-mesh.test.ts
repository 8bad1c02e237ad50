import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { generateFleet } from "../../examples/generate-fleet.js";
import { decidePair, hostTraits } from "../../src/planner/decide-pair.js";
import { generateFacts } from "../../examples/generate-facts.js";
import { applyFacts, type FactsFile } from "../../src/model/facts.js";
import type { Model } from "../../src/model/model.js";
import { buildPlan } from "../../src/planner/build-plan.js";
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
    checkEveryPair(load(inv).model!);
  });

  it("with every host's facts distinct, classes follow decisions, and every pair still matches its class", () => {
    const inv = generateFleet({ hosts: 60, links: 12, sites: 5 });
    // Some VMs hide AES-NI, so ChaCha20-Poly1305 availability matters for some pairs.
    const facts = generateFacts(inv, { variation: "distinct", aesHidden: 0.15 }) as unknown as FactsFile;
    const model = applyFacts(load(inv).model!, facts).model;
    const distinct = new Set(Object.values(facts.devices).map((d) => JSON.stringify((d as { host: unknown }).host)));
    expect(distinct.size).toBe(60);
    const m = checkEveryPair(model);
    expect(m.hostClasses.length).toBeLessThan(60);
    expect(m.hostClasses.some((c) => c.cpuTier === "generic")).toBe(true);
    expect(m.pairClasses.some((c) => c.cipher === "chacha20-poly1305")).toBe(true);
    // Classes differ in something a decision reads, never only in raw facts.
    const keys = m.hostClasses.map((c) =>
      JSON.stringify([c.nic, c.offload, c.nicSpeed, c.nicMtu, c.cpu, c.cpuTier, c.families, c.usableCiphers, c.strongswan]),
    );
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("hosts whose raw facts differ only in what no decision reads share one class", () => {
    const inv = generateFleet({ hosts: 8, links: 2, sites: 2 });
    const facts = generateFacts(inv, { variation: "uniform" }) as unknown as FactsFile;
    const hosts = Object.values(facts.devices) as {
      host: { cpuFlags: string[]; kernelAlgorithms: Record<string, string[]>; kernel: string; strongswanVersion: string };
    }[];
    hosts.forEach((d, i) => {
      d.host.cpuFlags = [...d.host.cpuFlags, `flag${i}`];
      d.host.kernelAlgorithms = { ...d.host.kernelAlgorithms, [`alg${i}`]: ["x"] };
      d.host.kernel = `6.8.0-${i}-generic`;
      d.host.strongswanVersion = i % 2 ? "5.9.13" : "6.0.1";
    });
    const p = buildPlan(applyFacts(load(inv).model!, facts).model, { inventoryDigest: "t", profilesDigest: "t" });
    // generateFleet cycles four host kinds (profile + NIC); nothing else differs in a way that decides anything
    expect(p.meshes[0]!.hostClasses.length).toBe(4);
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

/** Decides every pair of the model's first mesh on its own and checks it against its class; returns the mesh plan. */
function checkEveryPair(model: Model) {
  const p = buildPlan(model, { inventoryDigest: "t", profilesDigest: "t" });
  const m = p.meshes[0]!;
  const classOf = new Map(m.hostClasses.flatMap((c) => c.hosts.map((h) => [h, c.id] as const)));
  const pathOf = new Map(m.pathClasses.flatMap((c) => c.sitePairs.map((s) => [s, c.id] as const)));
  const linkPlans = new Map(p.links.map((l) => [l.name, l]));
  const between = sitePathFinder(model.links, linkPlans);
  const mesh = model.meshes[0]!;
  const seen = new Map<string, number>();
  const hosts = mesh.hosts;
  for (let i = 0; i < hosts.length; i++)
    for (let j = i + 1; j < hosts.length; j++) {
      const [a, b] = [hosts[i]!, hosts[j]!];
      let [ca, cb] = [classOf.get(a.name)!, classOf.get(b.name)!];
      let [x, y] = [a, b];
      if (Number(ca.slice(2)) > Number(cb.slice(2))) {
        [ca, cb] = [cb, ca];
        [x, y] = [b, a];
      }
      const sp = [a.site, b.site].sort().join("~");
      const pc = m.pairClasses.find((c) => c.hostClasses[0] === ca && c.hostClasses[1] === cb && c.pathClass === pathOf.get(sp))!;
      expect(pc, `${a.name}~${b.name}`).toBeDefined();
      const d = decidePair(hostTraits(x), hostTraits(y), between(x.site, y.site), mesh, model.policy, model.profiles.xfrmPerf);
      expect(
        [
          d.method,
          d.cipher,
          d.sides?.map((s) => s.decision),
          d.mtu?.maxInnerMtu,
          d.sequence?.esn ?? false,
          d.sequence?.rekeyPackets ?? null,
        ],
        `${a.name}~${b.name}`,
      ).toEqual([pc.method, pc.cipher, pc.sides?.map((s) => s.decision), pc.mtu?.maxInnerMtu, pc.esn, pc.rekeyPackets]);
      seen.set(pc.id, (seen.get(pc.id) ?? 0) + 1);
    }
  for (const c of m.pairClasses) expect(seen.get(c.id)).toBe(c.pairs);
  return m;
}
