import type { Driver } from "../../drivers/contract.js";
import type { Clock } from "./clock.js";
import { decodeJournal, type JournalStore, type JournalWriter } from "./journal.js";

/**
 * How a killed run is resumed. A run killed between a link's commit and its confirm leaves both ends committed but
 * unconfirmed; the devices roll back by themselves at the confirm deadline. The next run (which took the state lock)
 * reads the journal, and for each such commit whose deadline has not passed:
 *   1. cancels it on both ends by the token it was committed with (NETCONF cancel-commit with persist-id), at once,
 *      and journals that under the dead run, so it is not found again;
 *   2. or, when an end has no way to cancel by token, waits until the deadline plus a margin for the device's own
 *      rollback timer.
 * Only then does the run change anything, so it never stacks a commit on an unconfirmed one.
 */
export interface PendingCommit {
  run: string;
  target: string;
  token: string;
  /** Epoch ms. */
  confirmDeadline: number;
}

/** Commits the journal shows started and never confirmed, failed or rolled back, whose deadline is after `now`. */
export function pendingCommits(rows: Parameters<typeof decodeJournal>[0], now: number): PendingCommit[] {
  const open = new Map<string, PendingCommit>();
  for (const e of decodeJournal(rows)) {
    const key = `${e.run}/${e.target}`;
    if (e.step === "commit" && e.state === "started")
      open.set(key, { run: e.run, target: e.target, token: e.token, confirmDeadline: e.confirmDeadline });
    else if ((e.step === "confirm" && e.state === "done") || e.state === "failed" || e.state === "rolled-back") open.delete(key);
  }
  return [...open.values()].filter((p) => p.confirmDeadline > now);
}

export interface RecoveryOptions {
  store: JournalStore;
  /** Writes under this run's clock; cancel entries go under the dead run's ID. */
  journal: JournalWriter;
  clock: Clock;
  /** The two ends of a journaled target, or undefined when it is not a link (then its deadline is waited out). */
  endsOf: (target: string) => [Driver, Driver] | undefined;
  say: (line: string) => void;
  /** Added to a deadline before the wait ends: the device's own rollback timer may be a little late. */
  marginMs?: number;
}

export interface RecoveryAction {
  run: string;
  target: string;
  action: "cancelled" | "waited";
  detail: string;
}

/** Cancels, or waits out, every commit a dead run left unconfirmed. See the module comment. */
export async function recoverOrphans(o: RecoveryOptions): Promise<RecoveryAction[]> {
  const done: RecoveryAction[] = [];
  for (const p of pendingCommits(await o.store.journal(), o.clock.now())) {
    // First choice: cancel the orphaned confirmed commit on both ends by its token, at once and deterministically.
    const cancelled = await cancelOrphan(p, o.endsOf(p.target)).catch((e: Error) => {
      o.say(`could not cancel ${p.target}'s unconfirmed commit (${e.message}); waiting for the devices' own rollback instead`);
      return undefined;
    });
    if (cancelled) {
      await o.journal.writeFor(p.run, {
        step: "commit",
        target: p.target,
        state: "rolled-back",
        message: `cancelled by run ${o.journal.run}: ${cancelled}`,
      });
      o.say(`a previous run left ${p.target} committed but unconfirmed: ${cancelled}`);
      done.push({ run: p.run, target: p.target, action: "cancelled", detail: cancelled });
      continue;
    }
    // Otherwise (a device with no such handle) wait it out, with a margin for the device's own rollback timer.
    const ms = p.confirmDeadline - o.clock.now() + (o.marginMs ?? 5000);
    o.say(
      `waiting ${Math.ceil(ms / 1000)} s: a previous run left ${p.target} committed but unconfirmed; the device rolls it back at ${new Date(p.confirmDeadline).toISOString()}`,
    );
    await o.clock.sleep(ms);
    done.push({ run: p.run, target: p.target, action: "waited", detail: `waited ${Math.ceil(ms / 1000)} s for the devices' own rollback` });
  }
  return done;
}

/**
 * Cancels a link's orphaned confirmed commit on both ends by its token. Returns what was done, or undefined when an
 * end's driver has no way to (then the caller waits for the device's own timer).
 */
async function cancelOrphan(p: PendingCommit, ends: [Driver, Driver] | undefined): Promise<string | undefined> {
  if (!ends || ends.some((d) => !d.cancelPending)) return undefined;
  const said: string[] = [];
  for (const d of ends) {
    await d.connect();
    try {
      said.push(`${d.device} ${(await d.cancelPending!(p.token)) ? "cancelled (cancel-commit by persist-id)" : "had nothing pending"}`);
    } finally {
      await d.close().catch(() => undefined);
    }
  }
  return said.join(", ");
}
