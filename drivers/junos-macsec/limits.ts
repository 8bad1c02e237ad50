import type { DeviceFacts, MacsecDeviceLimits } from "../contract.js";
import { junosFamily } from "./render.js";

/**
 * Pure: what this switch can be configured with, from the product model it reported (its schema family), by the
 * same rules as the renderer (render.ts), so that `plan --facts` refuses what the driver would refuse at apply.
 */
export function junosMacsecLimits(facts: DeviceFacts): MacsecDeviceLimits | undefined {
  if (!facts.system?.description) return undefined;
  const family = junosFamily(facts.system.description);
  if (family === "junos-ex")
    return {
      source: `product model ${facts.system.description} (schema family junos-ex: no cipher-suite)`,
      suites: ["GCM-AES-128"],
      sciSettable: true,
    };
  return { source: `product model ${facts.system.description} (schema family ${family})`, sciSettable: true };
}
