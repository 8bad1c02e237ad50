import { cmp, type Diagnostic } from "../model/diagnostics.js";
import type { Model, ModelHost, ModelMesh } from "../model/model.js";
import { formatSpeed } from "../model/speed.js";
import { cpuTier, decidePair, hostTraits, type HostTraits, type PairDecision, type PathTraits } from "./decide-pair.js";
import type { HostClassPlan, MeshPlan, PairClassPlan, PathClassPlan, SidePlan } from "./plan-types.js";
import type { SitePath } from "./site-paths.js";

/**
 * Plans a mesh without visiting every pair. Hosts that decide alike (same NIC, CPU, MTU, address families) form a
 * host class; site pairs whose paths behave alike form a path class; a pair class is (host class, host class, path
 * class) and is decided once. Pair counts come from multiplying per-site class counts, so the cost follows the number
 * of classes and sites, not the ~n^2/2 pairs.
 */
export function planMesh(
  mesh: ModelMesh,
  model: Model,
  pathBetween: (a: string, b: string) => SitePath,
): { plan: MeshPlan; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];

  // Host classes, numbered in the order of the (name-sorted) members.
  const classOfKey = new Map<string, HostClassPlan>();
  const traitsOf = new Map<string, HostTraits>();
  const classOfHost = new Map<string, string>();
  for (const h of mesh.hosts) {
    const t = hostTraits(h);
    const key = JSON.stringify([t.nicProfile.name, t.nicSpeedBps, t.nicMtu, t.cpuModel, t.cpuFlags, t.families, t.kernelAlgorithms ?? null, t.strongswanVersion ?? null]);
    let hc = classOfKey.get(key);
    if (!hc) {
      hc = {
        id: `hc${classOfKey.size + 1}`, nic: t.nicProfile.name, nicDriver: t.nicProfile.kernelDriver,
        nicSpeed: formatSpeed(t.nicSpeedBps), nicMtu: t.nicMtu, cpu: t.cpuModel, cpuTier: cpuTier(t.cpuFlags),
        families: t.families.map((f) => (f === 4 ? "ipv4" : "ipv6")), hosts: [],
      };
      classOfKey.set(key, hc);
      traitsOf.set(hc.id, t);
    }
    hc.hosts.push(h.name);
    classOfHost.set(h.name, hc.id);
  }
  const hostClasses = [...classOfKey.values()];
  const classIndex = new Map(hostClasses.map((c, i) => [c.id, i]));

  // Per site: how many members of each host class, and one example host for messages.
  const perSite = new Map<string, Map<string, { n: number; example: string }>>();
  for (const h of mesh.hosts) {
    const m = perSite.get(h.site) ?? new Map();
    perSite.set(h.site, m);
    const hc = classOfHost.get(h.name)!;
    const e = m.get(hc);
    if (e) e.n++;
    else m.set(hc, { n: 1, example: h.name });
  }
  const sites = [...perSite.keys()].sort(cmp);

  // Path classes over site pairs.
  const pathClassOfKey = new Map<string, PathClassPlan>();
  const pathTraits = new Map<string, PathTraits>();
  const unconnected: string[] = [];
  const pairCounts = new Map<string, { hcA: string; hcB: string; path: PathClassPlan; pairs: number; example: [string, string] }>();
  for (let i = 0; i < sites.length; i++) {
    for (let j = i; j < sites.length; j++) {
      const [sa, sb] = [sites[i]!, sites[j]!];
      const p = pathBetween(sa, sb);
      if (!p.connected) unconnected.push(`${sa}~${sb}`);
      const key = JSON.stringify([p.linksMtu, p.natT, p.hardwareEncrypted, p.speedBps]);
      let pc = pathClassOfKey.get(key);
      if (!pc) {
        pc = { id: `path${pathClassOfKey.size + 1}`, linksMtu: p.linksMtu, natT: p.natT, hardwareEncrypted: p.hardwareEncrypted, speed: p.speedBps === null ? null : formatSpeed(p.speedBps), sitePairs: [], links: [] };
        pathTraits.set(pc.id, p);
        pathClassOfKey.set(key, pc);
      }
      pc.sitePairs.push(`${sa}~${sb}`);
      for (const hop of p.links) if (!pc.links.some((x) => x.join() === hop.join())) pc.links.push(hop);
      const ca = perSite.get(sa)!;
      const cb = perSite.get(sb)!;
      for (const [hca, ea] of ca) {
        for (const [hcb, eb] of cb) {
          let pairs: number;
          if (sa === sb) {
            if (classIndex.get(hca)! > classIndex.get(hcb)!) continue; // each unordered class pair once
            pairs = hca === hcb ? (ea.n * (ea.n - 1)) / 2 : ea.n * eb.n;
          } else pairs = ea.n * eb.n;
          if (pairs === 0) continue;
          const [lo, hi, ex] = classIndex.get(hca)! <= classIndex.get(hcb)! ? [hca, hcb, [ea.example, eb.example] as [string, string]] : [hcb, hca, [eb.example, ea.example] as [string, string]];
          const k = `${lo}|${hi}|${pc.id}`;
          const acc = pairCounts.get(k);
          if (acc) acc.pairs += pairs;
          else pairCounts.set(k, { hcA: lo, hcB: hi, path: pc, pairs, example: ex });
        }
      }
    }
  }
  if (unconnected.length > 0)
    diagnostics.push({
      severity: "warning", code: "mesh.unconnected-sites", path: mesh.path,
      message: `no links connect ${unconnected.length} site pair(s) of mesh ${mesh.name} (${unconnected.slice(0, 5).join(", ")}${unconnected.length > 5 ? ", ..." : ""}); their path MTU is taken from the NICs alone`,
    });

  const order = [...pairCounts.values()].sort(
    (x, y) => classIndex.get(x.hcA)! - classIndex.get(y.hcA)! || classIndex.get(x.hcB)! - classIndex.get(y.hcB)! || cmp(x.path.id, y.path.id),
  );
  const pairClasses: PairClassPlan[] = order.map((c, i) => {
    const id = `pc${i + 1}`;
    const d = decidePair(traitsOf.get(c.hcA)!, traitsOf.get(c.hcB)!, pathTraits.get(c.path.id)!, mesh, model.policy, model.profiles.xfrmPerf);
    for (const p of d.problems)
      diagnostics.push({ severity: p.severity, code: p.code, path: `${mesh.path}.pairClasses[${id}]`, message: `${c.pairs} pair(s) like ${c.example[0]} ~ ${c.example[1]}: ${p.message}` });
    return toPairClassPlan(id, c.hcA, c.hcB, c.path.id, c.pairs, d);
  });

  const n = mesh.hosts.length;
  const policy = model.policy;
  return {
    diagnostics,
    plan: {
      name: mesh.name,
      path: mesh.path,
      mode: mesh.mode,
      auth: mesh.auth,
      overlay: mesh.overlay,
      initiator: "lower-name",
      ike: { proposals: [...policy.ike.proposals], pfs: policy.pfs, pfsGroup: policy.ike.dhGroups[0]!, lifetimeSeconds: policy.lifetimes.ikeSeconds, childLifetimeSeconds: policy.lifetimes.childSeconds, dpdSeconds: policy.dpdSeconds },
      hosts: n,
      pairs: (n * (n - 1)) / 2,
      members: mesh.hosts.map((h) => ({ name: h.name, site: h.site, ...(h.ipv4 ? { ipv4: h.ipv4 } : {}), ...(h.ipv6 ? { ipv6: h.ipv6 } : {}), hostClass: classOfHost.get(h.name)! })),
      hostClasses,
      pathClasses: [...pathClassOfKey.values()],
      pairClasses,
    },
  };
}

function toPairClassPlan(id: string, hcA: string, hcB: string, pathClass: string, pairs: number, d: PairDecision): PairClassPlan {
  const side = (hc: string, s: NonNullable<PairDecision["sides"]>[number]): SidePlan => ({
    hostClass: hc,
    decision: s.decision === "unavailable" ? "host-xfrm" : s.decision,
    hwOffload: s.decision === "nic-packet-offload" ? "packet" : s.decision === "nic-crypto-offload" ? "crypto" : "no",
    throughput: formatSpeed(s.throughputBps),
    reason: s.reason,
  });
  return {
    id,
    hostClasses: [hcA, hcB],
    pathClass,
    pairs,
    method: d.method,
    cipher: d.cipher,
    families: d.families.map((f) => (f === 4 ? "ipv4" : "ipv6")),
    natT: d.natT,
    sides: d.sides ? [side(hcA, d.sides[0]), side(hcB, d.sides[1])] : null,
    mtu: d.mtu,
    capacity: d.capacity ? { nicSpeed: formatSpeed(d.capacity.nicSpeedBps), estimate: formatSpeed(d.capacity.estimateBps), ok: d.capacity.ok } : null,
    reasons: d.reasons,
  };
}

/** The decision for one concrete pair, with every cipher considered: what `explain hostA hostB` shows. */
export function explainPair(a: ModelHost, b: ModelHost, mesh: ModelMesh, model: Model, pathBetween: (x: string, y: string) => SitePath) {
  const [lo, hi] = a.name < b.name ? [a, b] : [b, a];
  const path = pathBetween(lo.site, hi.site);
  const decision = decidePair(hostTraits(lo), hostTraits(hi), path, mesh, model.policy, model.profiles.xfrmPerf);
  return { initiator: lo.name, responder: hi.name, path, decision };
}
