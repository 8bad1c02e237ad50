import { LineCounter, isAlias, isMap, isNode, isPair, isScalar, isSeq, parseDocument, type Document } from "yaml";
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

/** Memory bounds on what aliases may expand to: far above any real inventory, far below what exhausts the heap. */
export const YAML_MAX_ALIASES = 1000;
export const YAML_MAX_EXPANDED_CHARS = 16 * 1024 * 1024;

export function parseYamlSource(file: string, text: string): { source?: YamlSource; diagnostics: Diagnostic[] } {
  const lineCounter = new LineCounter();
  const refuse = (message: string, at?: string): { diagnostics: Diagnostic[] } => ({
    diagnostics: [{ severity: "error", code: "yaml.limit", path: "(yaml)", message: `${file}: ${message}`, ...(at ? { source: at } : {}) }],
  });
  let doc: Document;
  try {
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  } catch (e) {
    // The parser itself gave up (e.g. nesting deep enough to exhaust the stack).
    return refuse(
      `is not YAML linkcrypt can read: ${e instanceof RangeError ? "nested too deeply" : firstLine(String((e as Error)?.message ?? e))}`,
    );
  }
  const pos = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return `${file}:${p.line}:${p.col}`;
  };
  const diagnostics: Diagnostic[] = [...doc.errors, ...doc.warnings].map((e) => ({
    severity: doc.errors.includes(e as never) ? "error" : "warning",
    code: "yaml.syntax",
    path: "(yaml)",
    message: `${file} is not valid YAML: ${/Maximum call stack/.test(e.message) ? "nested too deeply to read" : firstLine(e.message)}`,
    source: pos(e.pos[0]),
  }));
  if (doc.errors.length > 0) return { diagnostics };
  let size: ReturnType<typeof expandedSize>;
  try {
    size = expandedSize(doc);
  } catch (e) {
    if (e instanceof RangeError) return refuse("is nested too deeply to read");
    throw e;
  }
  if ("unresolved" in size) return refuse(`alias *${size.unresolved.name} has no anchor before it`, pos(size.unresolved.offset));
  if ("cycle" in size) return refuse(`alias *${size.cycle.name} refers to a node that contains it (a cycle)`, pos(size.cycle.offset));
  if (size.aliases > YAML_MAX_ALIASES) return refuse(`has ${size.aliases} aliases, more than the limit of ${YAML_MAX_ALIASES}`);
  if (size.chars > YAML_MAX_EXPANDED_CHARS)
    return refuse(
      `its aliases expand to more than ${YAML_MAX_EXPANDED_CHARS} characters (the limit; the file itself has ${text.length}), which looks like an alias bomb`,
    );
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: YAML_MAX_ALIASES }) as unknown;
  } catch (e) {
    return refuse(`cannot be read: ${firstLine(String((e as Error)?.message ?? e))}`);
  }
  return {
    diagnostics,
    source: { file, data, locate: (path, key) => locate(doc, path, key, pos) },
  };
}

/**
 * What the document would expand to, without expanding it: characters of scalar text counted once per place they
 * appear (an alias counts its anchor's whole size again), aliases counted, the first alias without an anchor named.
 * Linear in the document: each node's size is computed once.
 */
function expandedSize(
  doc: Document,
): { chars: number; aliases: number } | { unresolved: { name: string; offset: number } } | { cycle: { name: string; offset: number } } {
  const memo = new Map<unknown, number>();
  const inProgress = new Set<unknown>();
  let aliases = 0;
  let unresolved: { name: string; offset: number } | undefined;
  let cycle: { name: string; offset: number } | undefined;
  const size = (n: unknown): number => {
    if (n === null || n === undefined) return 0;
    const known = memo.get(n);
    if (known !== undefined) return known;
    if (isAlias(n)) {
      aliases++;
      const target = n.resolve(doc);
      if (!target) unresolved ??= { name: n.source, offset: n.range?.[0] ?? 0 };
      else if (inProgress.has(target)) cycle ??= { name: n.source, offset: n.range?.[0] ?? 0 };
      else return size(target); // not memoised: every use of an alias counts
      return 0;
    }
    let total = 0;
    inProgress.add(n);
    if (isScalar(n)) total = typeof n.value === "string" ? n.value.length : 8;
    else if (isPair(n)) total = size(n.key) + size(n.value);
    else if (isMap(n) || isSeq(n)) for (const item of n.items as unknown[]) total = Math.min(Number.MAX_SAFE_INTEGER, total + size(item));
    inProgress.delete(n);
    memo.set(n, total);
    return total;
  };
  const chars = size(doc.contents);
  return unresolved ? { unresolved } : cycle ? { cycle } : { chars, aliases };
}

function firstLine(msg: string): string {
  return msg.split("\n")[0]!.trim();
}

function locate(doc: Document, path: readonly PathSegment[], key: string | undefined, pos: (offset: number) => string): string | undefined {
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
