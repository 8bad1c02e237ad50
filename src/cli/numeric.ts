import { InvalidArgumentError } from "commander";

/**
 * Numeric command-line options, checked when commander parses them, so a bad value is a usage error (exit 64)
 * that names the option and its range. Only plain decimal digits are numbers here: "", " ", "0x10", "1e3" and
 * "Infinity" are refused, whole-number options refuse fractions, and every range has a top, so no value reaches a
 * timer past Node's 2^31-1 ms (which it would turn into 1 ms) or a rate limit that never ends.
 *
 * Each parser hands back the checked text unchanged, so the verbs' own Number(...) reads the same value.
 * Example: .option("--concurrency <n>", "...", wholeNumber(1, 10_000))
 */
const WHOLE = /^[0-9]{1,15}$/;
const DECIMAL = /^[0-9]{1,15}(\.[0-9]{1,6})?$/;

function check(raw: string, pattern: RegExp, what: string, min: number, max: number, unit: string): string {
  const range = `${what} from ${min} to ${max}${unit}`;
  if (!pattern.test(raw)) throw new InvalidArgumentError(`expected ${range}`);
  const n = Number(raw);
  if (n < min || n > max) throw new InvalidArgumentError(`expected ${range}`);
  return raw;
}

/** A count, or milliseconds: digits only. */
export function wholeNumber(min: number, max: number, unit = ""): (raw: string) => string {
  return (raw) => check(raw, WHOLE, "a whole number", min, max, unit);
}

/** Seconds or a percentage: digits, optionally with a decimal fraction. `min` may be a small positive number. */
export function decimalNumber(min: number, max: number, unit = ""): (raw: string) => string {
  return (raw) => check(raw, DECIMAL, "a number", min, max, unit);
}

/** The ranges the verbs share. */
export const NUMERIC = {
  concurrency: () => wholeNumber(1, 10_000),
  perDevice: () => wholeNumber(1, 1_000),
  perSite: () => wholeNumber(1, 10_000),
  /** A rate limit's minimum spacing; 0 = none. Capped at an hour: Bottleneck waits it out after the last job. */
  intervalMs: () => wholeNumber(0, 3_600_000, " ms"),
  /** Connect timeout, seconds. */
  timeoutS: () => decimalNumber(0.001, 3_600, " s"),
  /** A confirmed-commit timeout: devices take whole seconds. */
  confirmTimeoutS: () => wholeNumber(1, 86_400, " s"),
  securedTimeoutS: () => decimalNumber(0, 86_400, " s"),
  percent: () => decimalNumber(0, 100, " %"),
  /** How old verify evidence may be, hours (report, metrics). */
  evidenceAgeH: () => decimalNumber(0.001, 87_600, " h"),
} as const;
