import type { DeviceFacts } from "../../drivers/contract.js";
import type { MacsecSuiteId } from "../crypto/macsec-suites.js";
import { junosFamily } from "./junos-macsec.js";
import { describeOpenconfigDialect, openconfigDialect, openconfigHasIncludeSci, openconfigKeyId } from "./openconfig-macsec.js";

/**
 * Pure: what a MACsec switch can be configured with, from what it said at discovery (facts), so that `plan --facts`
 * refuses what the driver would refuse at apply: the same rules as the renderers (src/render/openconfig-macsec.ts,
 * src/render/junos-macsec.ts), read from the NETCONF hello's module revisions or the Junos product model.
 */
export interface MacsecDeviceLimits {
  /** What the limits come from, for messages. */
  source: string;
  /** Suites the device can be set to; undefined = no restriction seen. */
  suites?: MacsecSuiteId[];
  /** false: the device's model has no leaf for the SCI, so a link that includes it cannot be configured. */
  sciSettable: boolean;
  /** Why no MACsec link can be configured on this device at all. */
  blocked?: string;
}

/** linkcrypt's CKNs are 32 random bytes (src/keys/keys.ts). */
const CKN_BYTES = 32;

export function macsecDeviceLimits(driver: string, facts: DeviceFacts): MacsecDeviceLimits | undefined {
  if (driver === "openconfig-macsec" && facts.netconf) {
    const d = openconfigDialect(facts.netconf.capabilities);
    if (!d.announced.macsec && !d.announced.keychain) return undefined;
    let blocked: string | undefined;
    try {
      openconfigKeyId("00".repeat(CKN_BYTES), d.keychainRevision);
    } catch (e) {
      blocked = (e as Error).message;
    }
    return {
      source: describeOpenconfigDialect(d),
      sciSettable: openconfigHasIncludeSci(d.macsecRevision),
      ...(blocked ? { blocked } : {}),
    };
  }
  if (driver === "junos-macsec" && facts.system?.description) {
    const family = junosFamily(facts.system.description);
    if (family === "junos-ex")
      return {
        source: `product model ${facts.system.description} (schema family junos-ex: no cipher-suite)`,
        suites: ["GCM-AES-128"],
        sciSettable: true,
      };
    return { source: `product model ${facts.system.description} (schema family ${family})`, sciSettable: true };
  }
  return undefined;
}
