import { Parser, processors, type ParserOptions } from "xml2js";
import { ProtocolError } from "../../errors.js";

/**
 * xml2js with namespace prefixes stripped and attributes under `$`, so `<nc:rpc-reply>` reads as `rpc-reply`.
 *
 * A new parser per document: an xml2js Parser keeps state after an error, and a shared one could then never call
 * back for a later document (a hung session). A document with a DOCTYPE is refused before parsing, so no entity
 * definition can be expanded (sax would refuse custom entities anyway; refusing the DTD says why).
 */
const OPTIONS: ParserOptions = {
  explicitArray: true,
  explicitRoot: true,
  tagNameProcessors: [processors.stripPrefix],
  attrNameProcessors: [processors.stripPrefix],
  xmlns: false,
};

export type XmlNode = { $?: Record<string, string>; _?: string } & {
  [child: string]: XmlNode[] | string | Record<string, string> | undefined;
};

/** Parse one XML document; every failure is a ProtocolError (not well-formed, no root element, a DTD). */
export async function parseXml(xml: string): Promise<Record<string, XmlNode>> {
  if (/<!DOCTYPE/i.test(xml))
    throw new ProtocolError(
      "XML with a DOCTYPE is refused: linkcrypt accepts no DTDs and no entity definitions (limit: 0 entity expansions)",
    );
  let parsed: unknown;
  try {
    parsed = await new Parser(OPTIONS).parseStringPromise(xml);
  } catch (e) {
    throw new ProtocolError(firstLine(e), { cause: e });
  }
  if (parsed === null || typeof parsed !== "object" || Object.keys(parsed).length === 0)
    throw new ProtocolError("XML document has no root element");
  const root = parsed as Record<string, XmlNode | string>;
  const name = Object.keys(root)[0]!;
  // <a/> and <a>text</a> come back as a string: give every root the node shape.
  if (typeof root[name] !== "object" || root[name] === null) return { [name]: { _: String(root[name] ?? "") } as XmlNode };
  return root as Record<string, XmlNode>;
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e)
    .split("\n")[0]!
    .trim();
}

/** The text of the first `name` child, or undefined. */
export function childText(node: XmlNode | undefined, name: string): string | undefined {
  const c = ownChild(node, name);
  if (!Array.isArray(c) || c.length === 0) return undefined;
  const first = c[0] as XmlNode | string;
  return typeof first === "string" ? first : typeof first?._ === "string" ? first._ : undefined;
}

export function children(node: XmlNode | undefined, name: string): XmlNode[] {
  const c = ownChild(node, name);
  if (!Array.isArray(c)) return [];
  return (c as unknown[]).flatMap((x) =>
    typeof x === "string" ? [{ _: x } as XmlNode] : x !== null && typeof x === "object" && !Array.isArray(x) ? [x as XmlNode] : [],
  );
}

/** Only the node's own children: an element named `constructor` or `__proto__` is not an inherited property. */
function ownChild(node: XmlNode | undefined, name: string): XmlNode[] | string | Record<string, string> | undefined {
  return node !== null && typeof node === "object" && Object.hasOwn(node, name) ? node[name] : undefined;
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/**
 * The raw XML inside the first `<name>` (any namespace prefix) up to its first (`"first"`) or the document's last
 * (`"last"`) `</name>`; undefined when there is no such element, "" when it is empty. A linear scan: a regex with
 * `[^>]*` and a lazy body takes quadratic time on a reply full of unclosed tags.
 */
export function innerXml(xml: string, name: string, closing: "first" | "last"): string | undefined {
  const open = new RegExp(`<(?:[A-Za-z_][\\w.-]*:)?${name}(?=[\\s/>])`, "g");
  const m = open.exec(xml);
  if (!m) return undefined;
  const gt = xml.indexOf(">", m.index + m[0].length);
  if (gt < 0) return undefined;
  if (xml[gt - 1] === "/") return "";
  const start = gt + 1;
  const closeTag = /<\/(?:[A-Za-z_][\w.-]*:)?$/;
  let at = closing === "last" ? xml.lastIndexOf(`${name}>`) : xml.indexOf(`${name}>`, start);
  while (at >= start) {
    const before = xml.slice(Math.max(start, at - 256), at);
    if (closeTag.test(before)) return xml.slice(start, at - (before.length - before.lastIndexOf("</")));
    at = closing === "last" ? xml.lastIndexOf(`${name}>`, at - 1) : xml.indexOf(`${name}>`, at + 1);
    if (at < 0) break;
  }
  return undefined;
}
