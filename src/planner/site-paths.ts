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

/** One site of a breadth-first tree: the hop that reached it and the site it came from (null at the source). */
export interface PathNode {
  hop: string[] | null;
  up: PathNode | null;
  /** The path from the tree's source to here, without its hop list (shared: never change it). */
  traits: PathTraits & { connected: boolean };
}

/**
 * `finder(a, b)` gives the path with its hops listed; `finder.node(a, b)` gives the tree node instead (no list built),
 * for callers that visit many site pairs and walk the hops only where they need them.
 */
export interface SitePathFinder {
  (a: string, b: string): SitePath;
  node(a: string, b: string): PathNode;
}

export function sitePathFinder(links: readonly ModelLink[], plans: ReadonlyMap<string, LinkPlan>): SitePathFinder {
  const hops = new Map<string, Map<string, Hop>>();
  const sorted = [...links].sort((x, y) => cmp(x.name, y.name));
  for (const l of sorted) {
    if (l.a.site === l.b.site) continue;
    const p = plans.get(l.name)!;
    const hardware = p.method === "macsec" || p.method === "l1";
    // What a host packet can be on this link: the hardware budget, or the path, and never more than the ports take.
    const mtu = Math.min(hardware ? p.mtu.maxInnerMtu : l.pathMtu, l.a.port.mtu, l.b.port.mtu);
    for (const [from, to] of [
      [l.a.site, l.b.site],
      [l.b.site, l.a.site],
    ] as const) {
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
  // One breadth-first tree per source site, each node holding the path's traits from the source (aggregated as the
  // tree grows) and a link to its parent, so a site pair costs a lookup rather than a walk back along the tree.
  const cache = new Map<string, Map<string, PathNode>>();
  const lanTraits = { linksMtu: null, natT: false, hardwareEncrypted: false, speedBps: null, connected: true };
  const unconnected: PathNode = {
    hop: null,
    up: null,
    traits: { linksMtu: null, natT: false, hardwareEncrypted: false, speedBps: null, connected: false },
  };
  const sortedHops = new Map<string, Hop[]>();
  const adjacent = (site: string): Hop[] => {
    let list = sortedHops.get(site);
    if (!list) sortedHops.set(site, (list = [...(hops.get(site)?.values() ?? [])].sort((x, y) => cmp(x.to, y.to))));
    return list;
  };
  const bfs = (src: string) => {
    let tree = cache.get(src);
    if (tree) return tree;
    tree = new Map([[src, { hop: null, up: null, traits: lanTraits }]]);
    const queue = [src];
    for (let i = 0; i < queue.length; i++) {
      const cur = queue[i]!;
      const here = tree.get(cur)!;
      const t = here.traits;
      const first = here.up === null;
      for (const hop of adjacent(cur)) {
        if (tree.has(hop.to)) continue;
        tree.set(hop.to, {
          hop: hop.links,
          up: here,
          traits: {
            linksMtu: first ? hop.mtu : Math.min(t.linksMtu!, hop.mtu),
            speedBps: first ? hop.speedBps : Math.min(t.speedBps!, hop.speedBps),
            natT: t.natT || hop.nat,
            hardwareEncrypted: first ? hop.hardware : t.hardwareEncrypted && hop.hardware,
            connected: true,
          },
        });
        queue.push(hop.to);
      }
    }
    cache.set(src, tree);
    return tree;
  };
  const node = (a: string, b: string): PathNode => bfs(a).get(b) ?? unconnected;
  const finder = (a: string, b: string): SitePath => {
    const n = node(a, b);
    const hopsOut: string[][] = [];
    for (let x: PathNode | null = n; x !== null && x.hop !== null; x = x.up) hopsOut.push([...x.hop]);
    return { ...n.traits, links: hopsOut.reverse() };
  };
  return Object.assign(finder, { node });
}
