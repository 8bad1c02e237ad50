import { LineCounter, isMap, isNode, parseDocument, type Document } from "yaml";
import type { Diagnostic, PathSegment } from "./diagnostics.js";

/**
 * A parsed YAML file that remembers where every value came from, so a diagnostic on `links[2].b` can say
 * `inventory.yaml:34:8`. This is the only place that parses YAML.
 */
export interface YamlSource {
  file: string;
  data: unknown;
  /** `file:line:col` of the node at `path` (of the key `key` inside it, if given); undefined if not found. */
  locate(path: readonly PathSegment[], key?: string): string | undefined;
}

export function parseYamlSource(file: string, text: string): { source?: YamlSource; diagnostics: Diagnostic[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return `${file}:${p.line}:${p.col}`;
  };
  const diagnostics: Diagnostic[] = [...doc.errors, ...doc.warnings].map((e) => ({
    severity: doc.errors.includes(e as never) ? "error" : "warning",
    code: "yaml.syntax",
    path: "(yaml)",
    message: `${file} is not valid YAML: ${firstLine(e.message)}`,
    source: pos(e.pos[0]),
  }));
  if (doc.errors.length > 0) return { diagnostics };
  const data = doc.toJS({ maxAliasCount: 1000 }) as unknown;
  return {
    diagnostics,
    source: { file, data, locate: (path, key) => locate(doc, path, key, pos) },
  };
}

function firstLine(msg: string): string {
  return msg.split("\n")[0]!.trim();
}

function locate(
  doc: Document,
  path: readonly PathSegment[],
  key: string | undefined,
  pos: (offset: number) => string,
): string | undefined {
  // Walk up the path until a node exists: a missing field is reported at its parent.
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (!isNode(node) || !node.range) continue;
    if (key !== undefined && n === path.length && isMap(node)) {
      const pair = node.items.find((p) => isNode(p.key) && (p.key as { value?: unknown }).value === key);
      const k = pair?.key;
      if (isNode(k) && k.range) return pos(k.range[0]);
    }
    return pos(node.range[0]);
  }
  return undefined;
}
