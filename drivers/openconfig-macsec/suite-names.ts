import type { MacsecSuiteId } from "../../src/crypto/macsec-suites.js";

/** The MACsec cipher suites as the openconfig-macsec model (identities of `macsec-cipher-suite`) names them (IEEE 802.1AE names on the left). */
export const suiteNames: Readonly<Record<MacsecSuiteId, string>> = {
  "GCM-AES-128": "GCM_AES_128",
  "GCM-AES-256": "GCM_AES_256",
  "GCM-AES-XPN-128": "GCM_AES_XPN_128",
  "GCM-AES-XPN-256": "GCM_AES_XPN_256",
};

export function suiteName(id: MacsecSuiteId): string {
  const n = suiteNames[id];
  if (n === undefined) throw new Error(`unknown MACsec suite ${id}`);
  return n;
}
