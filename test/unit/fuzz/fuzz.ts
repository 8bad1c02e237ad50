import fc from "fast-check";
import { afterAll, expect, vi } from "vitest";
import { LinkcryptError } from "../../../src/errors.js";

/**
 * Shared settings for the property-based fuzz tests: a fixed seed (a failure names its seed and path and replays),
 * a run count and a time bound per target. LINKCRYPT_FUZZ_RUNS / LINKCRYPT_FUZZ_TIME_MS / LINKCRYPT_FUZZ_SEED raise
 * or change them for a longer campaign. Each target prints how many inputs it tried.
 */
export const FUZZ_SEED = Number(process.env.LINKCRYPT_FUZZ_SEED ?? 20261128);
export const FUZZ_RUNS = Number(process.env.LINKCRYPT_FUZZ_RUNS ?? 400);
export const FUZZ_TIME_MS = Number(process.env.LINKCRYPT_FUZZ_TIME_MS ?? 4000);

// A target may run up to its time bound, plus the slowest single input: the file's tests get that much time.
vi.setConfig({ testTimeout: Math.max(30_000, FUZZ_TIME_MS * 2 + 20_000) });

const tried = new Map<string, number>();
const failed = new Set<string>();
afterAll(() => {
  for (const [target, n] of tried)
    console.log(
      `fuzz ${target}: ${n} inputs, ${failed.has(target) ? "FAILED (see the counterexample above)" : "no crash, hang or untyped error"}`,
    );
});

function params(runs: number | undefined): fc.Parameters<unknown> {
  // A campaign (LINKCRYPT_FUZZ_RUNS set) overrides the smaller per-target counts used in `npm test`.
  return {
    seed: FUZZ_SEED,
    numRuns: process.env.LINKCRYPT_FUZZ_RUNS ? FUZZ_RUNS : (runs ?? FUZZ_RUNS),
    interruptAfterTimeLimit: FUZZ_TIME_MS,
    markInterruptAsFailure: false,
  };
}

/** Run a synchronous property; `check` must throw (an assertion) on a bad outcome. */
export function fuzz<T>(target: string, arb: fc.Arbitrary<T>, check: (input: T) => void, runs?: number): void {
  failed.add(target);
  fc.assert(
    fc.property(arb, (x) => {
      tried.set(target, (tried.get(target) ?? 0) + 1);
      check(x);
    }),
    params(runs) as fc.Parameters<[T]>,
  );
  failed.delete(target);
}

export async function fuzzAsync<T>(target: string, arb: fc.Arbitrary<T>, check: (input: T) => Promise<void>, runs?: number): Promise<void> {
  failed.add(target);
  await fc.assert(
    fc.asyncProperty(arb, async (x) => {
      tried.set(target, (tried.get(target) ?? 0) + 1);
      await check(x);
    }),
    params(runs) as fc.Parameters<[T]>,
  );
  failed.delete(target);
}

/** `fn` either returns or throws one of linkcrypt's typed errors; a TypeError, RangeError etc. fails the property. */
export function returnsOrTyped<R>(fn: () => R): R | LinkcryptError {
  try {
    return fn();
  } catch (e) {
    expect(e, `untyped error: ${String(e)}`).toBeInstanceOf(LinkcryptError);
    return e as LinkcryptError;
  }
}

export async function settlesOrTyped<R>(p: Promise<R>, ms = 2000): Promise<R | LinkcryptError> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, hang]);
  } catch (e) {
    expect(e, `untyped error or hang: ${String(e)}`).toBeInstanceOf(LinkcryptError);
    return e as LinkcryptError;
  } finally {
    clearTimeout(timer);
  }
}

/** Rejects after `ms` with a plain Error (which the typed checks then refuse): a hang becomes a failure. */
export function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`hung: no result within ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** Printable text mixed with the bytes parsers trip on: control characters, quotes, brackets, NUL. */
export const nastyString = (maxLength = 200) =>
  fc.string({
    maxLength,
    unit: fc.oneof(
      fc.constantFrom("\n", "\r", "\t", "\u0000", "\u001b", "<", ">", "&", "/", ":", "#", "]", "*", "&", '"', "'", " "),
      fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
      fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }),
    ),
  });
