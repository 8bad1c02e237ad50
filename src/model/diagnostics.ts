/**
 * Diagnostics are accumulated, never thrown: validation and planning report every problem at once.
 *
 * Example: `{ severity: "error", code: "ref.device", path: "links[2].b",
 *             message: 'device "ams1-sw9" is not in devices', source: "inv.yaml:34:8" }`
 */
export type Severity = "error" | "warning" | "info";

export interface Diagnostic {
  severity: Severity;
  /** Stable, dotted machine code, e.g. `schema.unknown-key`, `ref.device`, `mtu.port-too-large`. */
  code: string;
  /** Path into the inventory (`links[2].b`) or into the plan (`meshes[0].pairs[web-mlx5~db-ixgbe]`). */
  path: string;
  message: string;
  /** `file:line:col` where the path can be located in the source YAML. */
  source?: string;
}

export type PathSegment = string | number;

/** `["links", 2, "b"]` -> `links[2].b` */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = "";
  for (const s of segments) {
    if (typeof s === "number") out += `[${s}]`;
    else out += out === "" ? s : `.${s}`;
  }
  return out === "" ? "(root)" : out;
}

export function hasErrors(diags: readonly Diagnostic[]): boolean {
  return diags.some((d) => d.severity === "error");
}

const severityRank: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** Stable order: severity, then path, then code, then message. */
export function sortDiagnostics(diags: Diagnostic[]): Diagnostic[] {
  return diags.sort(
    (a, b) =>
      severityRank[a.severity] - severityRank[b.severity] || naturalCmp(a.path, b.path) || cmp(a.code, b.code) || cmp(a.message, b.message),
  );
}

/** Byte-order string compare; locale-independent so that output is the same everywhere. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Like `cmp`, but runs of digits compare as numbers: `pc2` sorts before `pc10`, `links[2]` before `links[10]`. */
export function naturalCmp(a: string, b: string): number {
  const ra = a.split(/(\d+)/);
  const rb = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(ra.length, rb.length); i++) {
    const [x, y] = [ra[i]!, rb[i]!];
    const c = i % 2 === 1 ? Number(x) - Number(y) || cmp(x, y) : cmp(x, y);
    if (c !== 0) return c;
  }
  return ra.length - rb.length;
}

/** Closest candidate by edit distance, for "did you mean" hints. */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDist) {
      bestDist = d;
      best = c;
    }
  }
  return best !== undefined && bestDist <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}
