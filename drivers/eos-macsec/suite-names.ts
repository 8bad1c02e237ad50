import type { MacsecSuiteId } from "../../src/crypto/macsec-suites.js";

/** The MACsec cipher suites as Arista EOS (`mac security profile cipher`) names them (IEEE 802.1AE names on the left). */
export const suiteNames: Readonly<Record<MacsecSuiteId, string>> = {
  "GCM-AES-128": "aes128-gcm",
  "GCM-AES-256": "aes256-gcm",
  "GCM-AES-XPN-128": "aes128-gcm-xpn",
  "GCM-AES-XPN-256": "aes256-gcm-xpn",
};

export function suiteName(id: MacsecSuiteId): string {
  const n = suiteNames[id];
  if (n === undefined) throw new Error(`unknown MACsec suite ${id}`);
  return n;
}
