import type { Diagnostic } from "../model/diagnostics.js";

/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, problems: 1, changes: 2, usage: 64, internal: 70 } as const;

export interface Out {
  write(s: string): void;
}

const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;
const escapeChar = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/**
 * Text from input made safe for a terminal: C0 controls other than newline and tab, DEL and the C1 controls
 * (which include the 8-bit CSI) are shown as \u00HH, so a value like "de\u001b[2J" cannot clear or rewrite the
 * screen. The escape is also JSON's, so JSON output stays valid JSON.
 */
export function safeText(s: string): string {
  return s.replace(CONTROL, escapeChar);
}

/** safeText for stderr, keeping the two sequences the progress line itself uses: "\r" and erase-line "\u001b[K". */
export function safeProgress(s: string): string {
  return s.replace(/\x1b\[K|[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (m) => (m === "\x1b[K" || m === "\r" ? m : escapeChar(m)));
}

/** A plain, aligned text table; the last column is not padded. Cells are shown with safeText. */
export function formatTable(headersIn: string[], rowsIn: string[][]): string {
  const headers = headersIn.map(safeText);
  const rows = rowsIn.map((r) => r.map((c) => safeText(String(c ?? ""))));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.severity.padEnd(7)} ${safeText(d.path)}: ${safeText(d.message)}${d.source ? `  (${safeText(d.source)})` : ""}`;
}

export function formatDiagnostics(diags: readonly Diagnostic[]): string {
  if (diags.length === 0) return "";
  const errors = diags.filter((d) => d.severity === "error").length;
  const warnings = diags.filter((d) => d.severity === "warning").length;
  return `${diags.map(formatDiagnostic).join("\n")}\n${errors} error(s), ${warnings} warning(s)\n`;
}

/** An invalid inventory, said the way the caller asked: JSON ({file, valid: false, diagnostics}) with --json, else text. */
export function invalidInventory(file: string, diagnostics: readonly Diagnostic[], asJson: boolean | undefined, text: string): string {
  return asJson ? json({ file, valid: false, diagnostics }) : `${formatDiagnostics(diagnostics)}${file}: ${text}\n`;
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** "a, b, c and 7 more" */
export function listSome(items: readonly string[], max = 4): string {
  return items.length <= max ? items.join(", ") : `${items.slice(0, max).join(", ")} and ${items.length - max} more`;
}
