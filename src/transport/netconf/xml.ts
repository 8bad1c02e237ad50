import { Parser, processors } from "xml2js";

/** xml2js with namespace prefixes stripped and attributes under `$`, so `<nc:rpc-reply>` reads as `rpc-reply`. */
const parser = new Parser({
  explicitArray: true,
  explicitRoot: true,
  tagNameProcessors: [processors.stripPrefix],
  attrNameProcessors: [processors.stripPrefix],
  xmlns: false,
});

export type XmlNode = { $?: Record<string, string>; _?: string } & { [child: string]: XmlNode[] | string | Record<string, string> | undefined };

export async function parseXml(xml: string): Promise<Record<string, XmlNode>> {
  return (await parser.parseStringPromise(xml)) as Record<string, XmlNode>;
}

/** The text of the first `name` child, or undefined. */
export function childText(node: XmlNode | undefined, name: string): string | undefined {
  const c = node?.[name];
  if (!Array.isArray(c) || c.length === 0) return undefined;
  const first = c[0] as XmlNode | string;
  return typeof first === "string" ? first : (first._ ?? undefined);
}

export function children(node: XmlNode | undefined, name: string): XmlNode[] {
  const c = node?.[name];
  return Array.isArray(c) ? (c as (XmlNode | string)[]).map((x) => (typeof x === "string" ? ({ _: x } as XmlNode) : x)) : [];
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
