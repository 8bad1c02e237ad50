import { randomUUID } from "node:crypto";
import type { AccessOptions } from "../devices/device-access.js";
import { LinkcryptError, UsageError } from "../errors.js";
import type { Inventory } from "../model/inventory-schema.js";
import { batches as splitBatches, parseBatch, parseLimit } from "../model/limit.js";
import type { ProfileSet } from "../model/load-profiles.js";
import type { Plan } from "../planner/plan-types.js";
import { withInterrupts } from "../state/cli.js";
import type { StateStore } from "../state/store.js";
import { SshPool } from "../transport/ssh.js";
import { SKIPPED_BY_LIMIT } from "./apply.js";
import { type Clock, realClock } from "./clock.js";
import type { EndsFactory } from "./link-ends.js";
import { JournalWriter, type RotateStep } from "./journal.js";
import type { RecoveryAction } from "./recovery.js";
import { RotateInterrupted, rotateMacsecLink } from "./rotate.js";
import { limitSelection, recoverAll } from "./run-apply.js";

/**
 * `rotate link NAME` as one domain call: take the state lock, check the state key, recover what a killed run left
 * (its unconfirmed commits are cancelled by token, as apply does), then rotate each selected link make-before-break
 * (src/apply/rotate.ts), with SIGINT/SIGTERM turned into a clean stop.
 *
 * NAME is a link's name, or a glob over link names (`'*'`, `'fra-*'`). --limit narrows that further; a MACsec link
 * NAME matches but --limit leaves out is reported "skipped (--limit)". --batch rotates the links in consecutive
 * batches, one link at a time within a batch; when more than maxFailPercent of the links have failed after a batch,
 * the later batches are not started.
 */
export interface RotateRequest {
  name: string;
  plan: Plan;
  inv: Inventory;
  profiles: ProfileSet;
  store: StateStore;
  access: AccessOptions;
  confirmTimeoutS: number;
  securedTimeoutMs?: number;
  limit?: string | undefined;
  batch?: string | undefined;
  maxFailPercent?: number;
  say: (line: string) => void;
  onStep?: (link: string, step: RotateStep, state: "started" | "done" | "failed" | "rolled-back") => void;
  pauseAfterCommitMs?: number;
  clock?: Clock;
  /** The drivers of a link's ends (tests); the devices' own by default. */
  ends?: EndsFactory;
  /** Turns SIGINT/SIGTERM into an abort (the CLI's withInterrupts); tests pass their own. */
  interrupts?: <T>(fn: (signal: AbortSignal) => Promise<T>) => Promise<{ value: T; interrupted: boolean }>;
}

export type LinkRotation =
  | { link: string; outcome: "rotated"; oldCkn: string; newCkn: string; batch?: number }
  | { link: string; outcome: "interrupted"; state: string; batch?: number }
  | { link: string; outcome: "failed"; detail: string; batch?: number }
  | { link: string; outcome: "skipped"; detail: string; batch?: number };

export interface RotateOutcome {
  run: string;
  /** True when NAME was one link's name and neither --limit nor --batch was given: the output keeps its one-link form. */
  single: boolean;
  links: LinkRotation[];
  interrupted: boolean;
  recovered: RecoveryAction[];
}

const GLOB = /[*?[]/;

/** The state an interrupted rotation left the link in, from the last step done. */
function interruptedState(lastDone: RotateStep | undefined): string {
  // Make-before-break: after the first step both keys work on both ends; the next rotate resumes from the stored next key.
  return lastDone === "install-next-key"
    ? "old and new key installed on both ends; run rotate again to retire the old one"
    : lastDone === "retire-old-key"
      ? "rotated: only the new key on both ends"
      : "unchanged: the old key on both ends";
}

export async function runRotateLinks(r: RotateRequest): Promise<RotateOutcome> {
  const clock = r.clock ?? realClock;
  const limit = r.limit !== undefined ? parseLimit(r.limit) : undefined;
  const batch = r.batch !== undefined ? parseBatch(r.batch) : undefined;
  const macsec = r.plan.links.filter((l) => l.method === "macsec");
  const glob = GLOB.test(r.name) ? parseLimit(r.name).terms[0]!.re : undefined;
  const named = glob ? macsec.filter((l) => glob.test(l.name)) : r.plan.links.filter((l) => l.name === r.name);
  if (named.length === 0)
    throw new LinkcryptError(
      "E_INPUT",
      glob ? `"${r.name}" matches no MACsec link in the plan` : `"${r.name}" is not a MACsec link in the plan`,
    );
  const selected = limit ? limitSelection(r.plan, r.inv, limit).links : undefined;
  const single = !glob && !limit && !batch;
  const run = randomUUID();
  const journal = new JournalWriter(r.store, run, clock);
  const pool = new SshPool();
  try {
    await r.store.lock(`rotate link ${r.name}`);
    await r.store.checkKey();
    const recovered = await recoverAll(r.plan, r, r.store, run, pool, clock);
    const links: LinkRotation[] = [];
    const todo = named.filter((l) => {
      if (!selected || selected.has(l.name)) return true;
      links.push({ link: l.name, outcome: "skipped", detail: SKIPPED_BY_LIMIT });
      return false;
    });
    const runs = batch ? splitBatches(todo, batch) : [todo];
    const interrupts = r.interrupts ?? ((fn) => withInterrupts(r.store, { write: (s: string) => r.say(s.replace(/\n$/, "")) }, fn));
    const { interrupted } = await interrupts(async (signal) => {
      let failed = 0;
      for (const [i, part] of runs.entries()) {
        const tag = batch ? { batch: i + 1 } : {};
        if (i > 0 && (failed / todo.length) * 100 > (r.maxFailPercent ?? 0)) {
          for (const l of part)
            links.push({ link: l.name, outcome: "failed", detail: `not attempted: a link of batch ${i} failed`, ...tag });
          continue;
        }
        for (const l of part) {
          if (signal.aborted) {
            links.push({ link: l.name, outcome: "interrupted", state: interruptedState(undefined), ...tag });
            continue;
          }
          let lastDone: RotateStep | undefined;
          try {
            const done = await rotateMacsecLink(r.plan, l.name, r.inv, r.profiles, {
              access: r.access,
              store: r.store,
              journal,
              clock,
              confirmTimeoutS: r.confirmTimeoutS,
              signal,
              ...(r.securedTimeoutMs !== undefined ? { securedTimeoutMs: r.securedTimeoutMs } : {}),
              ...(r.pauseAfterCommitMs ? { pauseAfterCommitMs: r.pauseAfterCommitMs } : {}),
              ...(r.ends ? { ends: r.ends } : {}),
              onStep: (step, state) => {
                if (state === "done") lastDone = step;
                r.onStep?.(l.name, step, state);
              },
            });
            links.push({ link: l.name, outcome: "rotated", ...done, ...tag });
          } catch (e) {
            if (e instanceof RotateInterrupted)
              links.push({ link: l.name, outcome: "interrupted", state: interruptedState(lastDone), ...tag });
            else if (single) throw e;
            else {
              failed++;
              links.push({ link: l.name, outcome: "failed", detail: (e as Error).message, ...tag });
            }
          }
        }
      }
    });
    return { run, single, links, interrupted: interrupted || links.some((l) => l.outcome === "interrupted"), recovered };
  } finally {
    await pool.closeAll().catch(() => undefined);
  }
}

/** `rotate mesh` changes every pair's PSK at once: a subset would leave pairs with a different key on each end. */
export function refuseMeshSubset(o: { limit?: string | undefined; batch?: string | undefined }): void {
  if (o.limit !== undefined || o.batch !== undefined)
    throw new UsageError(
      "rotate mesh takes no --limit or --batch: a new PSK master changes every pair's key, and a host left out would keep the old one (its pairs would fail to authenticate)",
    );
}
