/** Link and port speeds: written `100G`, `25G`, `400G`, `100M`, `1.6T` (or a number of Gb/s); held in bit/s. */
const UNITS: Record<string, number> = { M: 1e6, G: 1e9, T: 1e12 };

export const SPEED_PATTERN = /^(\d+(?:\.\d+)?)\s*([MGT])(?:b(?:it)?\/?s|bps)?$/i;

export function parseSpeed(v: string | number): number | undefined {
  if (typeof v === "number") return v > 0 ? v * 1e9 : undefined;
  const m = SPEED_PATTERN.exec(v.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!);
}

export function formatSpeed(bps: number): string {
  if (bps >= 1e12 && bps % 1e11 === 0) return `${bps / 1e12}T`;
  if (bps >= 1e9) return `${+(bps / 1e9).toFixed(2)}G`;
  return `${+(bps / 1e6).toFixed(1)}M`;
}
