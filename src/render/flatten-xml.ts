import type { XmlNode } from "../transport/netconf/xml.js";

/**
 * Flattens parsed XML into sorted `path = value` lines, with list entries keyed by their first child
 * (`interface[eth1]`), so two configurations can be compared line by line. Leaves named in `secretLeaves`
 * are shown as `<secret>`. OpenConfig's `config` and `state` containers are never keyed: they are not list entries.
 */
export function flattenXml(root: XmlNode | undefined, secretLeaves: ReadonlySet<string>, prefix = ""): string[] {
  const out: string[] = [];
  if (!root) return out;
  for (const [tag, kids] of Object.entries(root)) {
    if (tag === "$" || tag === "_" || !Array.isArray(kids)) continue;
    for (const kid of kids as (XmlNode | string)[]) {
      if (typeof kid === "string" || Object.keys(kid).every((k) => k === "$" || k === "_")) {
        const v = typeof kid === "string" ? kid : (kid._ ?? "");
        out.push(`${prefix}/${tag} = ${secretLeaves.has(tag) ? "<secret>" : v.trim()}`);
        continue;
      }
      const firstKey = Object.keys(kid).find((k) => k !== "$" && k !== "_");
      const first = firstKey ? (kid[firstKey] as (XmlNode | string)[] | undefined)?.[0] : undefined;
      const key =
        tag === "config" || tag === "state"
          ? undefined
          : typeof first === "string"
            ? first
            : first && Object.keys(first).every((k) => k === "$" || k === "_")
              ? first._
              : undefined;
      out.push(...flattenXml(kid, secretLeaves, `${prefix}/${tag}${key !== undefined ? `[${key.trim()}]` : ""}`));
    }
  }
  return out.sort();
}
