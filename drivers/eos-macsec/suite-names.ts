import type { MacsecSuiteId } from "../../src/crypto/macsec-suites.js";
import { suiteNameIn } from "../shared/suite-name.js";

/** The MACsec cipher suites as Arista EOS (`mac security profile cipher`) names them (IEEE 802.1AE names on the left). */
export const suiteNames: Readonly<Record<MacsecSuiteId, string>> = {
  "GCM-AES-128": "aes128-gcm",
  "GCM-AES-256": "aes256-gcm",
  "GCM-AES-XPN-128": "aes128-gcm-xpn",
  "GCM-AES-XPN-256": "aes256-gcm-xpn",
};

export const suiteName = (id: MacsecSuiteId): string => suiteNameIn(suiteNames, id);
