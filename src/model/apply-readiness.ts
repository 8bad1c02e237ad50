import type { Diagnostic } from "./diagnostics.js";
import type { Inventory } from "./inventory-schema.js";
import type { ProfileSet } from "./load-profiles.js";
import type { Plan } from "../planner/plan-types.js";

/** The SNMP objects apply writes on an L1 encryptor (l1-snmp driver), and the status it reads to confirm. */
const L1_WRITES = ["cipher", "rotationInterval", "adminMode", "status"] as const;

/**
 * Pure: what apply would trip on at once, found at plan time, as diagnostics with paths. The planner decides how a
 * link is encrypted; these checks ask whether apply can then carry that decision out:
 * - a PSK mesh needs a `pskMaster` reference (an error: apply and mesh deliver stop at once without it);
 * - an L1 link's encryptors need an SNMP object map in their profile for what apply sets (`snmp.base`,
 *   `snmp.oids.cipher`, ..., `snmp.values.adminMode.secure`). A profile without one (no public OID map) still plans,
 *   as a warning that names the encryptor and what is missing: apply reports that link as failed.
 */
export function checkApplyReadiness(inv: Inventory, profiles: ProfileSet, plan: Pick<Plan, "links" | "meshes">): Diagnostic[] {
  const out: Diagnostic[] = [];
  inv.meshes.forEach((m, i) => {
    if (m.auth === "psk" && m.pskMaster === undefined && plan.meshes.some((p) => p.name === m.name))
      out.push({
        severity: "error",
        code: "apply.psk-master",
        path: `meshes[${i}].pskMaster`,
        message:
          `mesh "${m.name}" uses per-pair PSKs but names no pskMaster: set it to a reference to at least 32 random bytes ` +
          `(e.g. "file:/etc/linkcrypt/mesh-master.key"); apply and mesh deliver cannot run without it`,
      });
  });
  const seen = new Set<string>();
  for (const link of plan.links) {
    if (link.method !== "l1" || !link.l1) continue;
    for (const name of link.l1.encryptors) {
      if (seen.has(name)) continue;
      seen.add(name);
      const i = inv.devices.findIndex((d) => d.name === name);
      const d = inv.devices[i];
      if (d?.kind !== "l1-encryptor") continue;
      const p = profiles.l1.get(d.profile);
      if (p?.driver !== "l1-snmp") continue;
      const missing = [
        ...(p.snmp?.base ? [] : ["snmp.base"]),
        ...L1_WRITES.filter((k) => !p.snmp?.oids[k]).map((k) => `snmp.oids.${k}`),
        ...(p.snmp?.values.adminMode?.secure === undefined ? ["snmp.values.adminMode.secure"] : []),
      ];
      if (missing.length)
        out.push({
          severity: "warning",
          code: "apply.l1-snmp-map",
          path: `devices[${i}].profile`,
          message:
            `encryptor "${name}" (link ${link.name}) has profile "${d.profile}", which has no ${missing.join(", ")}: ` +
            "apply cannot set its cipher or mode and will report the link as failed; give a profile with the vendor's OID map (--profiles DIR)",
        });
    }
  }
  return out;
}
