import { cmp, type Diagnostic } from "../model/diagnostics.js";
import type { Model, ModelHost, ModelMesh } from "../model/model.js";
import { formatSpeed } from "../model/speed.js";
import { espCipher, type EspCipherId } from "../crypto/esp-ciphers.js";
import type { XfrmPerfProfile } from "../model/profile-schema.js";
import {
  decidePair,
  evaluateSide,
  hostTraits,
  newDecideCache,
  type HostTraits,
  type PairDecision,
  type PathTraits,
} from "./decide-pair.js";
import type { Family } from "./mtu-budget.js";
import type { HostClassPlan, MeshPlan, PairClassPlan, PathClassPlan, SidePlan } from "./plan-types.js";
import type { PathNode, SitePath, SitePathFinder } from "./site-paths.js";

/**
 * Plans a mesh without visiting every pair. Hosts that decide alike (same NIC, CPU, MTU, address families) form a
 * host class; site pairs whose paths behave alike form a path class; a pair class is (host class, host class, path
 * class) and is decided once. Pair counts come from multiplying per-site class counts, so the cost follows the number
 * of classes and sites, not the ~n^2/2 pairs.
 */
export function planMesh(mesh: ModelMesh, model: Model, pathBetween: SitePathFinder): { plan: MeshPlan; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];

  // Host classes, numbered in the order of the (name-sorted) members, keyed on what the decisions depend on.
  const classOfKey = new Map<string, HostClassPlan>();
  const traitsOf = new Map<string, HostTraits>();
  const classOfHost = new Map<string, string>();
  const offloadKeys = new Map<object, string>();
  const memberTraits = mesh.hosts.map((h) => hostTraits(h));
  const runnableOf = runnableCiphers(mesh);
  const matters = ciphersThatMatter(mesh, memberTraits, model.profiles.xfrmPerf, runnableOf);
  const usableOf = new Map<readonly EspCipherId[], EspCipherId[]>();
  for (const [i, h] of mesh.hosts.entries()) {
    const t = memberTraits[i]!;
    const r = runnableOf(t);
    let usable = usableOf.get(r);
    if (!usable) usableOf.set(r, (usable = matters.filter((id) => r.includes(id))));
    const swanPacket = packetOffloadPossible(t, mesh) ? t.strongswan.hwOffloadModes : null;
    const key = hostClassKey(t, usable, swanPacket, offloadKeys);
    let hc = classOfKey.get(key);
    if (!hc) {
      hc = {
        id: `hc${classOfKey.size + 1}`,
        nic: t.nicProfile.name,
        nicDriver: t.nicProfile.kernelDriver,
        nicSpeed: formatSpeed(t.nicSpeedBps),
        nicMtu: t.nicMtu,
        offload: [...t.nicProfile.espOffload.modes],
        cpu: t.cpuModel,
        cpuTier: t.cpuTier,
        families: t.families.map((f) => (f === 4 ? "ipv4" : "ipv6")),
        usableCiphers: usable,
        strongswan: { hwOffloadModes: swanPacket, esn: t.strongswan.esn },
        hosts: [],
      };
      classOfKey.set(key, hc);
      traitsOf.set(hc.id, t);
    }
    hc.hosts.push(h.name);
    classOfHost.set(h.name, hc.id);
  }
  const hostClasses = [...classOfKey.values()];
  const classIndex = new Map(hostClasses.map((c, i) => [c.id, i]));
  const nClasses = hostClasses.length;

  // Per site: how many members of each host class (by class index), and up to two example hosts for messages.
  const perSiteMap = new Map<string, Map<number, SiteClass>>();
  for (const h of mesh.hosts) {
    const m = perSiteMap.get(h.site) ?? new Map<number, SiteClass>();
    perSiteMap.set(h.site, m);
    const ci = classIndex.get(classOfHost.get(h.name)!)!;
    const e = m.get(ci);
    if (e) {
      e.n++;
      e.second ??= h.name;
    } else m.set(ci, { ci, n: 1, example: h.name, second: undefined });
  }
  const sites = [...perSiteMap.keys()].sort(cmp);
  const perSite = sites.map((s) => [...perSiteMap.get(s)!.values()].sort((x, y) => x.ci - y.ci));

  // Path classes over site pairs. Pair counts per (class, class, path class) are summed without visiting every
  // (site, site, class, class) combination: for each site, the class counts of the sites it reaches are first added
  // up per path class, then multiplied by its own class counts once per path class.
  const pathClassOfKey = new Map<string, number>();
  const pathClassList: { plan: PathClassPlan; traits: PathTraits; hopKeys: Set<string>; walked: Set<PathNode> }[] = [];
  const unconnected: string[] = [];
  const pairCounts = new Map<number, PairCount>();
  const addPairs = (x: number, y: number, pc: number, pairs: number, exA: string, exB: string) => {
    const [lo, hi, a, b] = x <= y ? [x, y, exA, exB] : [y, x, exB, exA];
    const k = (lo * nClasses + hi) * 65536 + pc;
    const acc = pairCounts.get(k);
    if (acc) acc.pairs += pairs;
    else pairCounts.set(k, { lo, hi, pc, pairs, example: [a, b] });
  };
  const pathClassOf = (node: PathNode): number => {
    const p = node.traits;
    const key = `${p.linksMtu}|${p.natT}|${p.hardwareEncrypted}|${p.speedBps}`;
    let index = pathClassOfKey.get(key);
    if (index === undefined) {
      index = pathClassList.length;
      pathClassOfKey.set(key, index);
      const plan: PathClassPlan = {
        id: `path${index + 1}`,
        linksMtu: p.linksMtu,
        natT: p.natT,
        hardwareEncrypted: p.hardwareEncrypted,
        speed: p.speedBps === null ? null : formatSpeed(p.speedBps),
        sitePairs: [],
        links: [],
      };
      pathClassList.push({
        plan,
        traits: { linksMtu: p.linksMtu, natT: p.natT, hardwareEncrypted: p.hardwareEncrypted, speedBps: p.speedBps },
        hopKeys: new Set(),
        walked: new Set(),
      });
    }
    const entry = pathClassList[index]!;
    const pc = entry.plan;
    // The hops this path adds to its class. Paths from one source share their prefix in the tree, so the walk stops
    // at the first node already walked for this class.
    for (let x: PathNode | null = node; x !== null && x.hop !== null && !entry.walked.has(x); x = x.up) {
      entry.walked.add(x);
      const hk = x.hop[0]!; // a link belongs to exactly one hop (the site pair it joins), so its first link names it
      if (!entry.hopKeys.has(hk)) {
        entry.hopKeys.add(hk);
        pc.links.push(x.hop);
      }
    }
    return index;
  };
  // Per path class: summed class counts of the sites reached, and the first site that brought each class (examples).
  let sums: Float64Array[] = [];
  let exampleSite: Int32Array[] = [];
  for (let i = 0; i < sites.length; i++) {
    const sa = sites[i]!;
    const own = perSite[i]!;
    // Same site: pairs inside one class, and between two classes.
    const lanPc = pathClassOf(pathBetween.node(sa, sa));
    pathClassList[lanPc]!.plan.sitePairs.push(`${sa}~${sa}`);
    for (let x = 0; x < own.length; x++) {
      const ex = own[x]!;
      if (ex.n > 1) addPairs(ex.ci, ex.ci, lanPc, (ex.n * (ex.n - 1)) / 2, ex.example, ex.second!);
      for (let y = x + 1; y < own.length; y++) addPairs(ex.ci, own[y]!.ci, lanPc, ex.n * own[y]!.n, ex.example, own[y]!.example);
    }
    // Other sites after this one.
    const touched: number[] = [];
    for (let j = i + 1; j < sites.length; j++) {
      const sb = sites[j]!;
      const node = pathBetween.node(sa, sb);
      if (!node.traits.connected) unconnected.push(`${sa}~${sb}`);
      const pc = pathClassOf(node);
      pathClassList[pc]!.plan.sitePairs.push(`${sa}~${sb}`);
      if (sums.length < pathClassList.length) {
        for (let k = sums.length; k < pathClassList.length; k++) {
          sums.push(new Float64Array(nClasses));
          exampleSite.push(new Int32Array(nClasses).fill(-1));
        }
      }
      const acc = sums[pc]!;
      const exs = exampleSite[pc]!;
      if (!touched.includes(pc)) touched.push(pc);
      for (const e of perSite[j]!) {
        acc[e.ci]! += e.n;
        if (exs[e.ci] === -1) exs[e.ci] = j;
      }
    }
    for (const pc of touched) {
      const acc = sums[pc]!;
      const exs = exampleSite[pc]!;
      for (let y = 0; y < nClasses; y++) {
        const nb = acc[y]!;
        if (nb === 0) continue;
        const exampleB = perSiteMap.get(sites[exs[y]!]!)!.get(y)!.example;
        for (const ea of own) addPairs(ea.ci, y, pc, ea.n * nb, ea.example, exampleB);
        acc[y] = 0;
        exs[y] = -1;
      }
    }
  }
  sums = [];
  exampleSite = [];
  for (const e of pathClassList) e.plan.links.sort((x, y) => cmp(x[0]!, y[0]!));
  if (unconnected.length > 0)
    diagnostics.push({
      severity: "warning",
      code: "mesh.unconnected-sites",
      path: mesh.path,
      message:
        `no links connect ${unconnected.length} site pair(s) of mesh ${mesh.name} ` +
        `(${unconnected.slice(0, 5).join(", ")}${unconnected.length > 5 ? ", ..." : ""}); their path MTU is taken from the NICs alone`,
    });

  const order = [...pairCounts.values()].sort((x, y) => x.lo - y.lo || x.hi - y.hi || x.pc - y.pc);
  const cache = newDecideCache();
  const pairClasses: PairClassPlan[] = order.map((c, i) => {
    const id = `pc${i + 1}`;
    const [hcA, hcB] = [hostClasses[c.lo]!.id, hostClasses[c.hi]!.id];
    const d = decidePair(
      traitsOf.get(hcA)!,
      traitsOf.get(hcB)!,
      pathClassList[c.pc]!.traits,
      mesh,
      model.policy,
      model.profiles.xfrmPerf,
      cache,
    );
    for (const p of d.problems)
      diagnostics.push({
        severity: p.severity,
        code: p.code,
        path: `${mesh.path}.pairClasses[${id}]`,
        message: `${c.pairs} pair(s) like ${c.example[0]} ~ ${c.example[1]}: ${p.message}`,
      });
    return toPairClassPlan(id, hcA, hcB, pathClassList[c.pc]!.plan.id, c.pairs, d);
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
      ike: {
        proposals: [...policy.ike.proposals],
        pfs: policy.pfs,
        pfsGroup: policy.ike.dhGroups[0]!,
        lifetimeSeconds: policy.lifetimes.ikeSeconds,
        childLifetimeSeconds: policy.lifetimes.childSeconds,
        dpdSeconds: policy.dpdSeconds,
      },
      hosts: n,
      pairs: (n * (n - 1)) / 2,
      members: mesh.hosts.map((h) => ({
        name: h.name,
        site: h.site,
        ...(h.ipv4 ? { ipv4: h.ipv4 } : {}),
        ...(h.ipv6 ? { ipv6: h.ipv6 } : {}),
        hostClass: classOfHost.get(h.name)!,
      })),
      hostClasses,
      pathClasses: pathClassList.map((p) => p.plan),
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
    capacity: d.capacity
      ? { nicSpeed: formatSpeed(d.capacity.nicSpeedBps), estimate: formatSpeed(d.capacity.estimateBps), ok: d.capacity.ok }
      : null,
    esn: d.sequence?.esn ?? false,
    rekeyPackets: d.sequence?.rekeyPackets ?? null,
    reasons: d.reasons,
  };
}

interface SiteClass {
  ci: number;
  n: number;
  example: string;
  second: string | undefined;
}

interface PairCount {
  lo: number;
  hi: number;
  pc: number;
  pairs: number;
  example: [string, string];
}

/**
 * What makes two hosts decide alike: the NIC and what it can offload (after facts), speed and MTU, the CPU model and
 * tier, address families, the ciphers that matter which the kernel can run, and the strongSwan feature level where it
 * changes something. Not the raw CPU flag list, the rest of /proc/crypto, or exact versions: those differ from host to
 * host without changing a decision.
 */
function hostClassKey(t: HostTraits, usable: readonly string[], swanPacket: boolean | null, offloadKeys: Map<object, string>): string {
  let off = offloadKeys.get(t.nicProfile.espOffload);
  if (off === undefined) {
    off = JSON.stringify(t.nicProfile.espOffload);
    offloadKeys.set(t.nicProfile.espOffload, off);
  }
  return [
    t.nicProfile.name,
    off,
    t.nicSpeedBps,
    t.nicMtu,
    t.cpuModel,
    t.cpuTier,
    t.families.join(","),
    usable.join(","),
    swanPacket,
    t.strongswan.esn,
  ].join("\u0001");
}

/** strongSwan's hw_offload = packet support changes a decision only where the NIC could do packet offload. */
function packetOffloadPossible(t: HostTraits, mesh: ModelMesh): boolean {
  return mesh.offload !== "off" && t.nicProfile.espOffload.modes.includes("packet");
}

/** The mesh ciphers a host's kernel can run; one shared array per distinct set of ESP kernel algorithms. */
function runnableCiphers(mesh: Pick<ModelMesh, "ciphers">): (t: HostTraits) => readonly EspCipherId[] {
  const memo = new Map<string, readonly EspCipherId[]>();
  return (t) => {
    const key = t.kernelAlgorithms === undefined ? "*" : t.kernelAlgorithms.join(",");
    let r = memo.get(key);
    if (!r) {
      const has = (k: string) => t.kernelAlgorithms === undefined || t.kernelAlgorithms.includes(k);
      r = mesh.ciphers.filter((id) => espCipher(id).kernelAlgorithms.every(has));
      memo.set(key, r);
    }
    return r;
  };
}

/**
 * The mesh's ciphers whose availability on a host can change a pair's decision. A cipher c does not matter when an
 * earlier cipher g in the policy's order runs on every member and, on every kind of side in the mesh (NIC after facts,
 * CPU tier, strongSwan level, address families; with and without NAT-T), runs at least as fast and offloads at least
 * as much: then g is always at least as good as c, ties go to g, and c never wins whether a host can run it or not.
 */
export function ciphersThatMatter(
  mesh: Pick<ModelMesh, "ciphers" | "mode" | "offload">,
  members: readonly HostTraits[],
  perf: XfrmPerfProfile,
  runnableOf: (t: HostTraits) => readonly EspCipherId[] = runnableCiphers(mesh),
): EspCipherId[] {
  const kinds = new Map<string, HostTraits>();
  const sets = new Set<readonly EspCipherId[]>();
  for (const t of members) {
    sets.add(runnableOf(t));
    const k = `${t.nicProfile.name}|${t.nicProfile.espOffload.modes.join("+")}|${t.nicSpeedBps}|${t.cpuTier}|${t.strongswan.hwOffloadModes}|${t.families.join(",")}`;
    if (!kinds.has(k)) kinds.set(k, { ...t, kernelAlgorithms: undefined });
  }
  const everywhere = mesh.ciphers.filter((id) => [...sets].every((r) => r.includes(id)));
  const side = (t: HostTraits, id: EspCipherId, natT: boolean, fams: readonly Family[]) => {
    const s = evaluateSide(t, espCipher(id), mesh, natT, fams, perf);
    return { bps: s.throughputBps, score: s.decision === "nic-packet-offload" ? 2 : s.decision === "nic-crypto-offload" ? 1 : 0 };
  };
  const dominates = (g: EspCipherId, c: EspCipherId) => {
    for (const t of kinds.values())
      for (const natT of [false, true])
        for (const fams of [t.families, ...t.families.map((f) => [f])]) {
          const [x, y] = [side(t, g, natT, fams), side(t, c, natT, fams)];
          if (x.bps < y.bps || x.score < y.score) return false;
        }
    return true;
  };
  return mesh.ciphers.filter((c, i) => !mesh.ciphers.slice(0, i).some((g) => everywhere.includes(g) && dominates(g, c)));
}

/** The decision for one concrete pair, with every cipher considered: what `explain hostA hostB` shows. */
export function explainPair(a: ModelHost, b: ModelHost, mesh: ModelMesh, model: Model, pathBetween: (x: string, y: string) => SitePath) {
  const [lo, hi] = a.name < b.name ? [a, b] : [b, a];
  const path = pathBetween(lo.site, hi.site);
  const decision = decidePair(hostTraits(lo), hostTraits(hi), path, mesh, model.policy, model.profiles.xfrmPerf);
  return { initiator: lo.name, responder: hi.name, path, decision };
}
