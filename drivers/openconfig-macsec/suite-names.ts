import type { MacsecSuiteId } from "../../src/crypto/macsec-suites.js";
import { suiteNameIn } from "../shared/suite-name.js";

/** The MACsec cipher suites as the openconfig-macsec model (identities of `macsec-cipher-suite`) names them (IEEE 802.1AE names on the left). */
export const suiteNames: Readonly<Record<MacsecSuiteId, string>> = {
  "GCM-AES-128": "GCM_AES_128",
  "GCM-AES-256": "GCM_AES_256",
  "GCM-AES-XPN-128": "GCM_AES_XPN_128",
  "GCM-AES-XPN-256": "GCM_AES_XPN_256",
};

export const suiteName = (id: MacsecSuiteId): string => suiteNameIn(suiteNames, id);
