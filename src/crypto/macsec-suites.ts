/**
 * MACsec cipher suites (IEEE 802.1AE, XPN from 802.1AEbw-2013) and the per-frame overhead they add:
 * SecTAG 8 bytes (16 with the SCI) + ICV 16 bytes = 24 or 32 bytes. What each device calls a suite is its driver's
 * business: drivers/<name>/suite-names.ts.
 */
export type MacsecSuiteId = "GCM-AES-128" | "GCM-AES-256" | "GCM-AES-XPN-128" | "GCM-AES-XPN-256";

export interface MacsecSuite {
  id: MacsecSuiteId;
  keyBits: 128 | 256;
  /** Extended packet numbering: 64-bit PN instead of 32-bit. */
  xpn: boolean;
}

export const MACSEC_SUITES: readonly MacsecSuite[] = [
  {
    id: "GCM-AES-128",
    keyBits: 128,
    xpn: false,
  },
  {
    id: "GCM-AES-256",
    keyBits: 256,
    xpn: false,
  },
  {
    id: "GCM-AES-XPN-128",
    keyBits: 128,
    xpn: true,
  },
  {
    id: "GCM-AES-XPN-256",
    keyBits: 256,
    xpn: true,
  },
];

export const MACSEC_SUITE_IDS = MACSEC_SUITES.map((s) => s.id) as [MacsecSuiteId, ...MacsecSuiteId[]];

export const MACSEC_SECTAG_BYTES = 8;
export const MACSEC_SCI_BYTES = 8;
export const MACSEC_ICV_BYTES = 16;

export function macsecSuite(id: MacsecSuiteId): MacsecSuite {
  const s = MACSEC_SUITES.find((x) => x.id === id);
  if (!s) throw new Error(`unknown MACsec suite ${id}`);
  return s;
}

export function macsecOverheadBytes(includeSci: boolean): number {
  return MACSEC_SECTAG_BYTES + (includeSci ? MACSEC_SCI_BYTES : 0) + MACSEC_ICV_BYTES;
}
