import { homedir } from "node:os";
import { join } from "node:path";
import { hasErrors, type Diagnostic } from "../model/diagnostics.js";
import { applyFacts, parseFactsFile, type FactsFile } from "../model/facts.js";
import { checkApplyReadiness } from "../model/apply-readiness.js";
import type { Inventory } from "../model/inventory-schema.js";
import { loadInventory } from "../model/load-inventory.js";
import { loadProfiles, type ProfileSet } from "../model/load-profiles.js";
import type { Model } from "../model/model.js";
import { buildPlan, digest } from "../planner/build-plan.js";
import type { Plan } from "../planner/plan-types.js";
import { readBounded } from "../util/read-bounded.js";

export interface Loaded {
  model?: Model;
  profiles?: ProfileSet;
  data?: unknown;
  facts?: FactsFile;
  diagnostics: Diagnostic[];
}

/** Profiles, then inventory, then (optionally) discovered facts; every problem of all three is collected. */
export function loadAll(file: string, profileDirs: readonly string[], factsFile?: string): Loaded {
  const p = loadProfiles(profileDirs);
  if (!p.profiles || hasErrors(p.diagnostics)) return { diagnostics: p.diagnostics };
  const inv = loadInventory(file, p.profiles);
  const base: Loaded = { ...inv, profiles: p.profiles, diagnostics: [...p.diagnostics, ...inv.diagnostics] };
  return factsFile === undefined ? base : withFactsFile(base, factsFile);
}

/** `base` (loaded without facts) with a facts file read and applied; its problems join the diagnostics. */
export function withFactsFile(base: Loaded, factsFile: string): Loaded {
  if (!base.model) return base;
  let text: string;
  try {
    text = readBounded(factsFile);
  } catch (e) {
    return {
      diagnostics: [
        ...base.diagnostics,
        {
          severity: "error",
          code: "io.read",
          path: "(facts)",
          message: `cannot read facts ${factsFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        },
      ],
    };
  }
  const f = parseFactsFile(text, factsFile);
  if (!f.facts) return { diagnostics: [...base.diagnostics, ...f.diagnostics] };
  return withFacts(base, f.facts);
}

/** Pure: `base` (loaded without facts) with these facts applied, and every conflict they raise. */
export function withFacts(base: Loaded, facts: FactsFile): Loaded {
  if (!base.model) return base;
  const applied = applyFacts(base.model, facts);
  return { ...base, model: applied.model, facts, diagnostics: [...base.diagnostics, ...applied.diagnostics] };
}

export function planFromLoaded(l: Loaded): Plan | undefined {
  if (!l.model || !l.profiles) return undefined;
  const inputs = {
    inventoryDigest: digest(l.data),
    profilesDigest: digest(l.profiles),
    ...(l.facts ? { factsDigest: digest(l.facts.devices) } : {}),
  };
  const plan = buildPlan(l.model, inputs, l.diagnostics);
  // What apply would trip on at once is found now, as diagnostics with paths (src/model/apply-readiness.ts).
  const ready = checkApplyReadiness(l.data as Inventory, l.profiles, plan);
  return ready.length ? buildPlan(l.model, inputs, [...l.diagnostics, ...ready]) : plan;
}

/** How the read/write verbs reach devices: pinned host keys (never accepting new ones), secrets by reference. */
export function cliAccess(o: { knownHosts?: string | undefined; secrets?: string | undefined; sshConfig?: string | undefined }) {
  return {
    knownHostsFile: o.knownHosts ?? process.env.LINKCRYPT_KNOWN_HOSTS ?? join(homedir(), ".ssh", "known_hosts"),
    acceptNewHostKey: false,
    secrets: { env: process.env, ...(o.secrets ? { secretsFile: o.secrets } : {}) },
    connectTimeoutMs: 10_000,
    commandTimeoutMs: 30_000,
    // --ssh-config; without it src/devices/ssh-target.ts falls back to $LINKCRYPT_SSH_CONFIG, then ~/.ssh/config.
    ...(o.sshConfig ? { sshConfigFile: o.sshConfig } : {}),
  };
}
