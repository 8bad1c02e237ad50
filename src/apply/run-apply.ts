import { randomUUID } from "node:crypto";
import type { AccessOptions } from "../devices/device-access.js";
import { discover } from "../discover/discover.js";
import { InputError } from "../errors.js";
import type { FactsFile } from "../model/facts.js";
import type { Inventory } from "../model/inventory-schema.js";
import { parseBatch, parseLimit } from "../model/limit.js";
import type { ProfileSet } from "../model/load-profiles.js";
import type { Plan } from "../planner/plan-types.js";
import { withInterrupts } from "../state/cli.js";
import type { StateStore } from "../state/store.js";
import type { LimiterOptions } from "../transport/limiter.js";
import type { MeshAuth } from "../mesh/deliver.js";
import type { HostAccess } from "../mesh/host-access.js";
import { applyPlan, type TargetResult } from "./apply.js";
import { type Clock, realClock } from "./clock.js";
import { factsDrift, planDrift } from "./drift.js";
import { JournalWriter } from "./journal.js";
import { deviceEnds, type EndsFactory } from "./link-ends.js";
import { limitSelection } from "./limit-selection.js";
import { gatePlan, planDecisionDiffs } from "./plan-gate.js";
import { checkPlanShape } from "./plan-shape.js";
import { type RecoveryAction, recoverOrphans } from "./recovery.js";
import { SshPool } from "../transport/ssh.js";

/**
 * `apply PLAN` as one domain call: gate the saved plan against the re-derived one (and, for a plan made from facts,
 * against the devices read again), take the state lock, recover what a killed run left (src/apply/recovery.ts), then
 * apply the plan, under --limit and in --batch batches, with SIGINT/SIGTERM turned into a clean stop.
 * The CLI loads the inputs and formats the result; everything between is here.
 */
export interface ApplyRequest {
  planFile: string;
  /** The plan file, parsed but unchecked. */
  saved: unknown;
  /** The plan re-derived from the inventory, profiles and facts given. */
  fresh: Plan;
  inventoryFile: string;
  factsFile?: string | undefined;
  inv: Inventory;
  profiles: ProfileSet;
  /**
   * For a plan made from facts (unless --no-refresh): the facts it was made from and how to plan again from other
   * facts. The devices are read again and a plan that would now come out differently is refused.
   */
  refresh?: { facts: FactsFile; replan: (facts: FactsFile) => Plan } | undefined;
  openStore: () => Promise<StateStore>;
  access: AccessOptions;
  limits: LimiterOptions;
  dryRun: boolean;
  confirmTimeoutS: number;
  securedTimeoutMs: number;
  maxFailPercent: number;
  /** --limit PATTERN and --batch N|N%, as given. */
  limit?: string | undefined;
  batch?: string | undefined;
  /**
   * The mesh hosts and PSK master or CA of each mesh, made once the state store is open (a "state:" master is read
   * from it, or generated there, unless this is a dry run).
   */
  meshes: (
    store: StateStore,
    run: string,
    plan: Plan,
  ) => Promise<(meshName: string) => { hosts: HostAccess[]; auth: MeshAuth; lab: boolean } | undefined>;
  /** Notes for the operator (stderr): lock takeover, recovery, waits, interrupts. */
  say: (line: string) => void;
  /** Notes about the refresh of the devices' state (not shown with --json). */
  note?: (line: string) => void;
  onProgress?: (line: string) => void;
  pauseAfterCommitMs?: number;
  clock?: Clock;
  /** The drivers of a link's ends, for recovery and apply; the devices' own by default (tests simulate them). */
  ends?: EndsFactory;
}

export interface ApplyOutcome {
  run: string;
  dryRun: boolean;
  results: TargetResult[];
  interrupted: boolean;
  recovered: RecoveryAction[];
  /** With --limit: the pattern; with --batch: the batch size as given and the number of batches. */
  limit?: string;
  batch?: { size: string; batches: number };
}

export { limitSelection } from "./limit-selection.js";

export async function runApplyRequest(r: ApplyRequest): Promise<ApplyOutcome> {
  const clock = r.clock ?? realClock;
  // Options first: a bad --limit or --batch is a usage error before anything is read or locked.
  const limit = r.limit !== undefined ? parseLimit(r.limit) : undefined;
  const batch = r.batch !== undefined ? parseBatch(r.batch) : undefined;
  checkPlanShape(r.saved, r.planFile);
  // From here on apply acts only on the plan it re-derived itself; the file must agree with it (src/apply/plan-gate.ts).
  const plan = gatePlan({ saved: r.saved, fresh: r.fresh, planFile: r.planFile, inventoryFile: r.inventoryFile, factsFile: r.factsFile });
  const selection = limit ? limitSelection(plan, r.inv, limit) : undefined;

  // The plan was made from observed facts: read the devices again and refuse the plan if it would now come out different.
  if (r.refresh) {
    r.note?.(`re-reading the devices' state to check ${r.planFile} against ${r.factsFile} (--no-refresh skips this)`);
    const fresh = await discover(r.inv, r.profiles, { ...r.access, limits: r.limits, now: () => new Date(clock.now()) });
    const freshPlan = r.refresh.replan(fresh.facts);
    const changed = planDrift(plan, freshPlan);
    const seen = factsDrift(r.refresh.facts, fresh.facts);
    if (changed.length) {
      const decisionDiffs = planDecisionDiffs(plan, freshPlan).slice(0, 10).join("; ");
      throw new InputError(
        `${r.planFile} is stale: the devices no longer match ${r.factsFile}, and the plan would now differ for ${changed.join(", ")}. ` +
          `What changed: ${seen.join("; ") || "nothing in the compared fields"}. In the plan: ${decisionDiffs}. ` +
          `Run linkcrypt discover --out ${r.factsFile} and linkcrypt plan again`,
      );
    }
    if (seen.length) r.note?.(`note: observed state changed, but the plan comes out the same: ${seen.join("; ")}`);
  }

  const store = await r.openStore();
  const run = randomUUID();
  const pool = new SshPool();
  const err = { write: (s: string) => r.say(s.replace(/\n$/, "")) };
  try {
    const took = await store.lock(`apply ${r.planFile}`);
    if (took.tookOverFrom)
      r.say(
        `took over the state lock from a run that is gone (${took.tookOverFrom.owner}, pid ${took.tookOverFrom.pid} on ${took.tookOverFrom.host}); recovering from the journal`,
      );
    if (!r.dryRun) await store.checkKey(); // a wrong or missing state key stops here, before any device is touched
    const recovered = await recoverAll(plan, r, store, run, pool, clock);
    const meshAccess = await r.meshes(store, run, plan);
    const { value: results, interrupted } = await withInterrupts(store, err, (signal) =>
      applyPlan(plan, r.inv, r.profiles, {
        access: r.access,
        store,
        run,
        signal,
        clock,
        confirmTimeoutS: r.confirmTimeoutS,
        securedTimeoutMs: r.securedTimeoutMs,
        dryRun: r.dryRun,
        maxFailPercent: r.maxFailPercent,
        limits: r.limits,
        meshAccess,
        ...(selection ? { limit: selection } : {}),
        ...(batch ? { batch } : {}),
        ...(r.onProgress ? { onProgress: r.onProgress } : {}),
        ...(r.pauseAfterCommitMs ? { pauseAfterCommitMs: r.pauseAfterCommitMs } : {}),
        ...(r.ends ? { ends: r.ends } : {}),
      }),
    );
    const batches = batch ? Math.max(0, ...results.map((x) => x.batch ?? 0)) : 0;
    return {
      run,
      dryRun: r.dryRun,
      results,
      interrupted,
      recovered,
      ...(limit ? { limit: limit.source } : {}),
      ...(batch && r.batch !== undefined ? { batch: { size: r.batch, batches } } : {}),
    };
  } finally {
    await pool.closeAll().catch(() => undefined);
    await store.close();
  }
}

/** Cancels, or waits out, every commit a killed run left unconfirmed, before this run changes anything. */
export function recoverAll(
  plan: Plan,
  r: Pick<ApplyRequest, "inv" | "profiles" | "access" | "say" | "ends">,
  store: StateStore,
  run: string,
  pool: SshPool,
  clock: Clock,
): Promise<RecoveryAction[]> {
  const ends = r.ends ?? deviceEnds(r.inv, r.profiles, pool, r.access);
  return recoverOrphans({
    store,
    journal: new JournalWriter(store, run, clock),
    clock,
    say: r.say,
    endsOf: (target) => {
      const link = plan.links.find((x) => x.name === target);
      if (!link || (link.method !== "macsec" && link.method !== "l1")) return undefined;
      try {
        return ends(link).ends;
      } catch {
        return undefined; // a device no longer in the inventory: its deadline is waited out
      }
    },
  });
}
