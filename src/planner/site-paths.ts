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
  // One breadth-first tree per source site, each node holding the whole path from the source (aggregated as the tree
  // grows), so a site pair costs a lookup rather than a walk back along the tree.
  const cache = new Map<string, Map<string, SitePath>>();
  const lan: SitePath = { linksMtu: null, natT: false, hardwareEncrypted: false, speedBps: null, links: [], connected: true };
  const bfs = (src: string) => {
    let tree = cache.get(src);
    if (tree) return tree;
    tree = new Map([[src, lan]]);
    const queue = [src];
    for (let i = 0; i < queue.length; i++) {
      const cur = queue[i]!;
      const here = tree.get(cur)!;
      const next = [...(hops.get(cur)?.values() ?? [])].sort((x, y) => cmp(x.to, y.to));
      for (const hop of next) {
        if (tree.has(hop.to)) continue;
        const first = here.links.length === 0;
        tree.set(hop.to, {
          linksMtu: first ? hop.mtu : Math.min(here.linksMtu!, hop.mtu),
          speedBps: first ? hop.speedBps : Math.min(here.speedBps!, hop.speedBps),
          natT: here.natT || hop.nat,
          hardwareEncrypted: first ? hop.hardware : here.hardwareEncrypted && hop.hardware,
          links: [...here.links, hop.links],
          connected: true,
        });
        queue.push(hop.to);
      }
    }
    cache.set(src, tree);
    return tree;
  };
  return (a: string, b: string): SitePath => {
    if (a === b) return { ...lan, links: [] };
    const p = bfs(a).get(b);
    if (!p) return { linksMtu: null, natT: false, hardwareEncrypted: false, speedBps: null, links: [], connected: false };
    return { ...p }; // the hop arrays are shared between queries: read them, never change them
  };
}
