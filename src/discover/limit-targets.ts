import type { Inventory } from "../model/inventory-schema.js";
import { applyLimit, type Limit, type LimitSelection, type LimitTargets, parseLimit, selectLimited } from "../model/limit.js";

/**
 * `--limit` for the verbs that reach devices: the inventory's links, hosts and other devices as the targets
 * `src/model/limit.ts` selects among, and the devices a selection lets a verb contact.
 */
export function limitTargets(inv: Inventory): LimitTargets {
  const siteOf = new Map(inv.devices.map((d) => [d.name, d.site]));
  const end = (endpoint: string) => {
    const device = endpoint.slice(0, endpoint.indexOf(":"));
    return { device, site: siteOf.get(device) ?? "" };
  };
  return {
    links: inv.links.map((l) => ({ name: l.name, a: end(l.a), b: end(l.b) })),
    hosts: inv.devices.filter((d) => d.kind === "host").map((d) => ({ name: d.name, site: d.site })),
    devices: inv.devices.filter((d) => d.kind !== "host").map((d) => ({ name: d.name, site: d.site })),
  };
}

export interface LimitScope {
  limit: Limit;
  selection: LimitSelection;
  /** Every device (switch, encryptor or host) the verb may contact: those selected, and both ends of a selected link. */
  devices: Set<string>;
}

/**
 * Parse `--limit` and select against the inventory; undefined without a pattern. A positive term that matches
 * nothing is a UsageError naming it (exit 64). A selected link brings its end devices and its inline encryptors: a
 * link cannot be read or changed from one side. A negative term wins everywhere: a link with an excluded end or site
 * is not selected, so nothing excluded is ever contacted.
 */
export function limitScope(inv: Inventory, pattern: string | undefined): LimitScope | undefined {
  if (pattern === undefined) return undefined;
  const limit = parseLimit(pattern);
  const selection = selectLimited(limit, limitTargets(inv));
  const devices = new Set([...selection.devices, ...selection.hosts]);
  for (const l of inv.links) {
    if (!selection.links.has(l.name)) continue;
    for (const e of [l.a, l.b]) devices.add(e.slice(0, e.indexOf(":")));
    for (const x of l.encryptors ?? []) devices.add(x);
  }
  return { limit, selection, devices };
}

/**
 * The mesh pairs a limit selects, as "a~b": a pair is selected like a link whose ends are its two hosts (either host
 * or its site matches a positive term, and neither matches a negative one).
 */
export function selectPairs(scope: LimitScope, inv: Inventory, pairs: readonly (readonly [string, string])[]): Set<string> {
  const siteOf = new Map(inv.devices.map((d) => [d.name, d.site]));
  const links = pairs.map(([a, b]) => ({
    name: `${a}~${b}`,
    a: { device: a, site: siteOf.get(a) ?? "" },
    b: { device: b, site: siteOf.get(b) ?? "" },
  }));
  return applyLimit(scope.limit, { links, hosts: [], devices: [] }).links;
}
