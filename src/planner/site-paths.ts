import { cmp } from "../model/diagnostics.js";
import type { ModelLink } from "../model/model.js";
import type { PathTraits } from "./decide-pair.js";
import type { LinkPlan } from "./plan-types.js";

/**
 * Paths between sites over the inventory's links. Parallel links between two sites are folded into one hop with
 * the worst of their properties (smallest MTU, any NAT, hardware-encrypted only if all are), since traffic may take
 * any of them. Between two sites the path is the fewest-hops one, ties broken by link name, so it is deterministic.
 */
export interface SitePath extends PathTraits {
  /** Link names per hop (parallel links share a hop). */
  links: string[][];
  connected: boolean;
}

interface Hop {
  to: string;
  links: string[];
  mtu: number;
  speedBps: number;
  nat: boolean;
  hardware: boolean;
}

export function sitePathFinder(links: readonly ModelLink[], plans: ReadonlyMap<string, LinkPlan>): (a: string, b: string) => SitePath {
  const hops = new Map<string, Map<string, Hop>>();
  const sorted = [...links].sort((x, y) => cmp(x.name, y.name));
  for (const l of sorted) {
    if (l.a.site === l.b.site) continue;
    const p = plans.get(l.name)!;
    const hardware = p.method === "macsec" || p.method === "l1";
    // What a host packet can be on this link: the hardware budget, or the path, and never more than the ports take.
    const mtu = Math.min(hardware ? p.mtu.maxInnerMtu : l.pathMtu, l.a.port.mtu, l.b.port.mtu);
    for (const [from, to] of [[l.a.site, l.b.site], [l.b.site, l.a.site]] as const) {
      const m = hops.get(from) ?? new Map<string, Hop>();
      hops.set(from, m);
      const h = m.get(to);
      if (h) {
        h.links.push(l.name);
        h.mtu = Math.min(h.mtu, mtu);
        h.speedBps = Math.min(h.speedBps, l.speedBps);
        h.nat ||= l.nat;
        h.hardware &&= hardware;
      } else m.set(to, { to, links: [l.name], mtu, speedBps: l.speedBps, nat: l.nat, hardware });
    }
  }
  const cache = new Map<string, Map<string, { prev: string; hop: Hop } | null>>();
  const bfs = (src: string) => {
    let tree = cache.get(src);
    if (tree) return tree;
    tree = new Map([[src, null]]);
    const queue = [src];
    for (let i = 0; i < queue.length; i++) {
      const cur = queue[i]!;
      const next = [...(hops.get(cur)?.values() ?? [])].sort((x, y) => cmp(x.to, y.to));
      for (const hop of next) {
        if (tree.has(hop.to)) continue;
        tree.set(hop.to, { prev: cur, hop });
        queue.push(hop.to);
      }
    }
    cache.set(src, tree);
    return tree;
  };
  return (a: string, b: string): SitePath => {
    if (a === b) return { linksMtu: null, natT: false, hardwareEncrypted: false, speedBps: null, links: [], connected: true };
    const tree = bfs(a);
    if (!tree.has(b)) return { linksMtu: null, natT: false, hardwareEncrypted: false, speedBps: null, links: [], connected: false };
    const path: Hop[] = [];
    for (let cur = b; cur !== a; ) {
      const step = tree.get(cur)!;
      path.unshift(step.hop);
      cur = step.prev;
    }
    return {
      linksMtu: Math.min(...path.map((h) => h.mtu)),
      speedBps: Math.min(...path.map((h) => h.speedBps)),
      natT: path.some((h) => h.nat),
      hardwareEncrypted: path.every((h) => h.hardware),
      links: path.map((h) => [...h.links]),
      connected: true,
    };
  };
}
