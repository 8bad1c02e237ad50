import type { Inventory } from "../model/inventory-schema.js";
import { type Limit, selectLimited } from "../model/limit.js";
import type { Plan } from "../planner/plan-types.js";

/** The --limit selection over the plan's links and mesh hosts (a positive term matching nothing is a UsageError). */
export function limitSelection(plan: Plan, inv: Inventory, limit: Limit): { links: Set<string>; hosts: Set<string> } {
  const siteOf = new Map(inv.devices.map((d) => [d.name, d.site]));
  const end = (device: string) => ({ device, site: siteOf.get(device) ?? "" });
  const sel = selectLimited(limit, {
    links: plan.links.map((l) => ({ name: l.name, a: end(l.a.split(":")[0]!), b: end(l.b.split(":")[0]!) })),
    hosts: plan.meshes.flatMap((m) => m.members.map((h) => ({ name: h.name, site: h.site }))),
    devices: inv.devices.filter((d) => d.kind !== "host").map((d) => ({ name: d.name, site: d.site })),
  });
  // An L1 link is changed on its encryptors: naming an encryptor selects its link (unless the link, an end or a site
  // is excluded), and excluding one excludes the link.
  const term = (negate: boolean, name: string) => limit.terms.some((t) => t.negate === negate && t.re.test(name));
  const device = (negate: boolean, name: string) => term(negate, name) || term(negate, siteOf.get(name) ?? "");
  for (const l of plan.links) {
    const encryptors = l.method === "l1" ? (l.l1?.encryptors ?? []) : [];
    const own = [l.name, ...[l.a, l.b].map((e) => e.split(":")[0]!)];
    if (encryptors.some((e) => device(true, e))) sel.links.delete(l.name);
    else if (encryptors.some((e) => device(false, e)) && !own.some((n) => device(true, n))) sel.links.add(l.name);
  }
  return { links: sel.links, hosts: sel.hosts };
}
