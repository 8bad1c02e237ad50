import type { Diagnostic } from "../model/diagnostics.js";

/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, problems: 1, changes: 2, usage: 64, internal: 70 } as const;

export interface Out {
  write(s: string): void;
}

/** A plain, aligned text table; the last column is not padded. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.severity.padEnd(7)} ${d.path}: ${d.message}${d.source ? `  (${d.source})` : ""}`;
}

export function formatDiagnostics(diags: readonly Diagnostic[]): string {
  if (diags.length === 0) return "";
  const errors = diags.filter((d) => d.severity === "error").length;
  const warnings = diags.filter((d) => d.severity === "warning").length;
  return `${diags.map(formatDiagnostic).join("\n")}\n${errors} error(s), ${warnings} warning(s)\n`;
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** "a, b, c and 7 more" */
export function listSome(items: readonly string[], max = 4): string {
  return items.length <= max ? items.join(", ") : `${items.slice(0, max).join(", ")} and ${items.length - max} more`;
}
