import type { MacsecSuiteId } from "../../src/crypto/macsec-suites.js";
import { suiteNameIn } from "../shared/suite-name.js";

/** The MACsec cipher suites as Junos (`security macsec connectivity-association cipher-suite`) names them (IEEE 802.1AE names on the left). */
export const suiteNames: Readonly<Record<MacsecSuiteId, string>> = {
  "GCM-AES-128": "gcm-aes-128",
  "GCM-AES-256": "gcm-aes-256",
  "GCM-AES-XPN-128": "gcm-aes-xpn-128",
  "GCM-AES-XPN-256": "gcm-aes-xpn-256",
};

export const suiteName = (id: MacsecSuiteId): string => suiteNameIn(suiteNames, id);
