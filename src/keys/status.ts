import { statSync } from "node:fs";
import { limitSelection } from "../apply/limit-selection.js";
import type { Inventory } from "../model/inventory-schema.js";
import { parseLimit } from "../model/limit.js";
import type { ProfileSet } from "../model/load-profiles.js";
import type { Plan } from "../planner/plan-types.js";
import type { StateStore } from "../state/store.js";

export interface KeyAge {
  key: string;
  kind: "macsec" | "mesh";
  /** Null: never generated (or the file cannot be read). */
  ageDays: number | null;
  maxDays: number;
  stale: boolean;
}

const DAY_MS = 86_400_000;

/**
 * `keys status`: every key linkcrypt manages (or, with --limit, those of the selected links and of the meshes with a
 * selected host) and its age against the policy's maximum. The creation times are kept
 * in clear beside the sealed keys, so this needs no state key; a file: PSK master's age is its file's mtime.
 */
export async function keyAges(
  plan: Plan,
  inv: Inventory,
  profiles: ProfileSet,
  store: Pick<StateStore, "secretCreatedAt">,
  o: { now?: number; secretName: (mesh: string) => string; limit?: string | undefined },
): Promise<KeyAge[]> {
  const now = o.now ?? Date.now();
  // --limit: a link's key when the link is selected, a mesh's master when any of its hosts is.
  const sel = o.limit !== undefined ? limitSelection(plan, inv, parseLimit(o.limit)) : undefined;
  const meshSelected = (name: string) =>
    !sel || (plan.meshes.find((m) => m.name === name)?.members ?? []).some((h) => sel.hosts.has(h.name));
  const age = (created: string | undefined) => (created ? (now - Date.parse(created)) / DAY_MS : null);
  const rows: KeyAge[] = [];
  for (const l of plan.links.filter((x) => x.method === "macsec" && (!sel || sel.links.has(x.name)))) {
    const max = profiles.policies.get(l.policy)!.lifetimes.maxKeyAgeDays;
    const a = age(await store.secretCreatedAt(`macsec/${l.name}`));
    rows.push({ key: `MKA CAK ${l.name}`, kind: "macsec", ageDays: a, maxDays: max, stale: a !== null && a > max });
  }
  for (const m of inv.meshes.filter((x) => meshSelected(x.name))) {
    const max = profiles.policies.get(plan.policy)!.lifetimes.maxKeyAgeDays;
    let a: number | null = null;
    if (m.pskMaster === "state:") a = age(await store.secretCreatedAt(o.secretName(m.name)));
    else if (m.pskMaster?.startsWith("file:")) {
      try {
        a = (now - statSync(m.pskMaster.slice(5)).mtimeMs) / DAY_MS;
      } catch {
        a = null;
      }
    }
    if (m.auth === "psk") rows.push({ key: `PSK master ${m.name}`, kind: "mesh", ageDays: a, maxDays: max, stale: a !== null && a > max });
  }
  return rows;
}
