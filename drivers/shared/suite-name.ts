import type { MacsecSuiteId } from "../../src/crypto/macsec-suites.js";

/** A driver's name for a MACsec suite, from its own table (drivers/<name>/suite-names.ts); an unknown id throws. */
export function suiteNameIn(names: Readonly<Record<MacsecSuiteId, string>>, id: MacsecSuiteId): string {
  const n = names[id];
  if (n === undefined) throw new Error(`unknown MACsec suite ${id}`);
  return n;
}
