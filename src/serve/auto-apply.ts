import { planDrift } from "../apply/drift.js";
import type { KeyStamp } from "../metrics/key-ages.js";
import type { ProfileSet } from "../model/load-profiles.js";
import type { Plan } from "../planner/plan-types.js";
import type { VerifyReport } from "../verify/verify.js";

/**
 * `serve --auto-apply`: what serve may do beyond repairing mesh pairs, and the one place it reaches the apply and
 * rotate domain.
 *
 * - A pending plan (the inventory on disk plans differently from the plan serve runs with) is applied.
 * - Drift (a switch's or encryptor's configuration no longer what the applied plan put there) is re-applied: a link
 *   of the plan that verify does not find secured is checked with a dry run of the same plan, and applied when the
 *   dry run shows a change to make on it. A link that is down for another reason (the dry run has nothing to change)
 *   is left alone.
 * - A key older than its policy's maximum age is rotated: a PSK mesh's master (when linkcrypt keeps it: `state:` or
 *   `file:`) and a MACsec link's CAK.
 *
 * The domain is reached only through `AutoApplyDomain`. Its implementation today is `serveApplyDomain` in
 * src/cli/serve.ts, a thin adapter over the CLI's `runApply` and `runRotate` (src/cli/apply.ts, src/cli/keys.ts; it
 * lives in src/cli because only the CLI may import the CLI). While the apply transaction is being moved out of the
 * CLI, that adapter is the one place to switch to the exported domain functions.
 */
export interface ApplyOutcome {
  /** apply's exit: 0 nothing to change, 2 changed (or, dry, would change), 1 a failure, 130 interrupted. */
  code: number;
  /** apply's run ID (its journal entries). */
  run?: string;
  results: { target: string; kind: string; outcome: string; detail: string }[];
  error?: string;
}

export interface AutoApplyDomain {
  /** Plans the inventory file as it is now and applies that plan (or only diffs it, `dryRun`). */
  apply(o: { dryRun: boolean; signal?: AbortSignal }): Promise<ApplyOutcome>;
  /** `rotate mesh NAME` or `rotate link NAME`. */
  rotate(what: "mesh" | "link", name: string): Promise<{ ok: boolean; detail: string }>;
}

/** A key past its policy's maximum age, that linkcrypt can rotate. */
export interface DueRotation {
  what: "mesh" | "link";
  name: string;
  ageDays: number;
  maxDays: number;
}

/**
 * Pure: the keys to rotate now. A mesh master whose age is known only from the journal (an env: or secrets: master)
 * is not linkcrypt's to rotate and is left out.
 */
export function dueRotations(
  plan: Plan,
  profiles: Pick<ProfileSet, "policies">,
  stamps: readonly KeyStamp[],
  nowMs: number,
): DueRotation[] {
  const out: DueRotation[] = [];
  for (const s of stamps) {
    const ageDays = (nowMs - s.createdAtMs) / 86_400_000;
    if (s.kind === "mesh-psk-master") {
      if (s.source === "journal") continue;
      const max = profiles.policies.get(plan.policy)?.lifetimes.maxKeyAgeDays;
      if (max !== undefined && ageDays > max) out.push({ what: "mesh", name: s.key, ageDays, maxDays: max });
    } else if (s.kind === "macsec-cak") {
      const link = plan.links.find((l) => l.name === s.key && l.method === "macsec");
      const max = link ? profiles.policies.get(link.policy)?.lifetimes.maxKeyAgeDays : undefined;
      if (max !== undefined && ageDays > max) out.push({ what: "link", name: s.key, ageDays, maxDays: max });
    }
  }
  return out;
}

/** Pure: the plan's encrypted links (MACsec, L1) that verify did not find secured: drift is suspected there. */
export function suspectedDrift(plan: Plan, verify: VerifyReport): { link: string; status: string; evidence: string }[] {
  const byName = new Map(verify.entries.filter((e) => e.kind === "link").map((e) => [e.name, e]));
  return plan.links
    .filter((l) => l.method === "macsec" || l.method === "l1")
    .flatMap((l) => {
      const e = byName.get(l.name);
      return e && e.status !== "secured" ? [{ link: l.name, status: e.status, evidence: e.evidence.join("; ") }] : [];
    });
}

/** Pure: what a pending plan changes against the running one (src/apply/drift.ts's planDrift), for the journal. */
export function pendingChanges(running: Plan, fresh: Plan): string[] {
  return planDrift(running, fresh);
}
