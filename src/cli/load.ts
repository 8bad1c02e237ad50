import { hasErrors, type Diagnostic } from "../model/diagnostics.js";
import { loadInventory } from "../model/load-inventory.js";
import { loadProfiles, type ProfileSet } from "../model/load-profiles.js";
import type { Model } from "../model/model.js";
import { buildPlan, digest } from "../planner/build-plan.js";
import type { Plan } from "../planner/plan-types.js";

export interface Loaded {
  model?: Model;
  profiles?: ProfileSet;
  data?: unknown;
  diagnostics: Diagnostic[];
}

/** Profiles then inventory; every problem of both is collected. */
export function loadAll(file: string, profileDirs: readonly string[]): Loaded {
  const p = loadProfiles(profileDirs);
  if (!p.profiles || hasErrors(p.diagnostics)) return { diagnostics: p.diagnostics };
  const inv = loadInventory(file, p.profiles);
  return { ...inv, profiles: p.profiles, diagnostics: [...p.diagnostics, ...inv.diagnostics] };
}

export function planFromLoaded(l: Loaded): Plan | undefined {
  if (!l.model || !l.profiles) return undefined;
  return buildPlan(l.model, { inventoryDigest: digest(l.data), profilesDigest: digest(l.profiles) }, l.diagnostics);
}
