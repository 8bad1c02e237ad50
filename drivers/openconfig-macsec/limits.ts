import type { DeviceFacts, MacsecDeviceLimits } from "../contract.js";
import { describeOpenconfigDialect, openconfigDialect, openconfigHasIncludeSci, openconfigKeyId } from "./render.js";

/** linkcrypt's CKNs are 32 random bytes (src/keys/keys.ts). */
const CKN_BYTES = 32;

/**
 * Pure: what this switch can be configured with, read from the module revisions in its NETCONF hello, by the same
 * rules as the renderer (render.ts), so that `plan --facts` refuses what the driver would refuse at apply.
 */
export function openconfigMacsecLimits(facts: DeviceFacts): MacsecDeviceLimits | undefined {
  if (!facts.netconf) return undefined;
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
