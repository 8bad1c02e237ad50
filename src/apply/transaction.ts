import type { ConfigChange, Driver } from "../../drivers/contract.js";
import { LinkcryptError } from "../errors.js";
import type { Clock } from "./clock.js";
import type { JournalDraft, JournalWriter } from "./journal.js";

/**
 * The two-ends link transaction, the one apply and rotate both use. A link is changed at both ends or at neither:
 *
 *   stage both -> diff both -> commit both (confirmed, with a token) -> both ends secured? -> confirm both
 *
 * Every step runs on both ends at once. When either end fails a step, or the link does not come up secured within
 * the timeout after the commit, both ends are rolled back (cancelling the unconfirmed commit) and the error says so.
 * Each step is journaled before it reaches the devices; the commit entry holds the confirm deadline and the token,
 * so a run killed between commit and confirm is cancelled by the next one (src/apply/recovery.ts).
 */
export interface LinkTransaction {
  /** The journal target: the link's name. */
  target: string;
  kind: "macsec" | "l1";
  ends: [Driver, Driver];
  changes: [ConfigChange, ConfigChange];
  /** The port (MACsec) or line (L1) each end reports security for. */
  ports: [string, string];
  /** False for an end whose profile says MKA state cannot be read (mkaObservable: false): it is not waited for. */
  observable?: [boolean, boolean];
  /** The name the commit can be confirmed or cancelled by from another process. */
  token: string;
}

export interface TransactionOptions {
  journal: JournalWriter;
  /** "rotate": the entries are a key rotation's (see the journal's `scope`). */
  scope?: "rotate";
  clock: Clock;
  confirmTimeoutS: number;
  /** How long to wait for both ends to report the link secured after the commit. */
  securedTimeoutMs: number;
  /** Between two reads of the link's state while waiting for it to be secured. */
  securedPollMs?: number;
  /** Stage and diff only; roll both candidates back. */
  dryRun?: boolean;
  /** Commit even when neither end shows a difference (rotate: a step is committed whatever the diff says). */
  commitUnchanged?: boolean;
  /** Each step on these devices starts at least this long after the previous one (--per-device-interval). */
  minStepIntervalMs?: number;
  /** Fault injection for tests only: wait this long between commit and the secured check (a crash window). */
  pauseAfterCommitMs?: number;
  /** Aborted: no commit starts; a commit already made is rolled back on both ends. */
  signal?: AbortSignal;
}

export type TransactionResult =
  | { outcome: "unchanged"; detail: string }
  | { outcome: "planned"; detail: string; diff: string }
  | { outcome: "changed"; detail: string; diff: string; evidence: string[] }
  | { outcome: "interrupted"; committed: boolean; detail: string };

/** Why a run stopped, as journaled. */
export const INTERRUPTED = "interrupted (SIGINT/SIGTERM)";

class Interrupted extends Error {}

/**
 * Runs one transaction. Returns its outcome; throws a LinkcryptError (both ends already rolled back) when a step
 * failed or the link was not secured. The caller journals the failure under its own step name and closes the drivers.
 */
export async function runLinkTransaction(tx: LinkTransaction, o: TransactionOptions): Promise<TransactionResult> {
  const { ends, target: t } = tx;
  const { clock } = o;
  const journal = { write: (d: JournalDraft) => o.journal.write(o.scope ? ({ ...d, scope: o.scope } as JournalDraft) : d) };
  const stopped = () => o.signal?.aborted === true;
  const rollbackBoth = () => Promise.all(ends.map((d) => d.rollback().catch(() => undefined)));
  // --per-device-interval holds inside a transaction too: stage, commit and confirm each start at least that long
  // after the previous step on these devices (the limiter spaces whole transactions, not the steps within one).
  let lastStep: number | undefined;
  const spaceOut = async () => {
    const gap = o.minStepIntervalMs ?? 0;
    if (lastStep !== undefined && gap > 0) {
      const wait = lastStep + gap - clock.now();
      if (wait > 0) await clock.sleep(wait);
    }
    lastStep = clock.now();
  };

  await journal.write({ step: "stage", target: t, state: "started" });
  await spaceOut();
  const staged = await Promise.allSettled(ends.map((d, i) => d.loadCandidate(tx.changes[i]!)));
  const stageFail = staged.find((r) => r.status === "rejected");
  if (stageFail) {
    await rollbackBoth();
    throw stageFail.reason;
  }
  const diffs = await Promise.all(ends.map((d) => d.diff()));
  const diff = diffs
    .map((d, i) => (d ? `${ends[i]!.device}:\n${d}` : ""))
    .filter(Boolean)
    .join("\n");
  if (!diffs[0] && !diffs[1] && !o.commitUnchanged) {
    await Promise.all(ends.map((d) => d.rollback()));
    await journal.write({ step: "stage", target: t, state: "done", unchanged: true });
    return { outcome: "unchanged", detail: "already as planned on both ends" };
  }
  if (o.dryRun) {
    await Promise.all(ends.map((d) => d.rollback()));
    await journal.write({ step: "stage", target: t, state: "rolled-back", message: "dry run" });
    return { outcome: "planned", detail: "would change both ends", diff };
  }
  if (stopped()) {
    await rollbackBoth();
    await journal.write({ step: "stage", target: t, state: "rolled-back", message: `${INTERRUPTED} before commit` });
    return { outcome: "interrupted", committed: false, detail: "interrupted before commit: both ends unchanged" };
  }
  await journal.write({ step: "stage", target: t, state: "done", unchanged: false });

  await spaceOut(); // before the deadline is taken, so the journaled deadline is the device's
  await journal.write({
    step: "commit",
    target: t,
    state: "started",
    confirmDeadline: clock.now() + o.confirmTimeoutS * 1000,
    token: tx.token,
  });
  lastStep = clock.now(); // the commit reaches the devices now, after the journal write
  const committed = await Promise.allSettled(ends.map((d) => d.commit({ confirmTimeoutS: o.confirmTimeoutS, token: tx.token })));
  const refused = committed.flatMap((r, i) =>
    r.status === "rejected" ? [{ device: ends[i]!.device, why: (r.reason as Error).message }] : [],
  );
  if (refused.length) {
    await rollbackBoth();
    const others = ends.map((d) => d.device).filter((d) => !refused.some((r) => r.device === d));
    const alsoRolledBack = others.length ? `, so ${others.join(" and ")} was rolled back too` : "";
    const what =
      `${refused.map((r) => r.device).join(" and ")} refused the commit${alsoRolledBack} (both ends unchanged): ` +
      `${refused.map((r) => r.why).join("; ")}`;
    await journal.write({ step: "commit", target: t, state: "rolled-back", message: what });
    throw new LinkcryptError("E_COMMIT", what);
  }
  await journal.write({ step: "commit", target: t, state: "done" });

  // Only confirm once both ends show the link secured (MACsec: MKA status of the port; L1: encryptor status).
  await journal.write({ step: "verify", target: t, state: "started" });
  let evidence: string[];
  try {
    if (o.pauseAfterCommitMs) await pause(o.pauseAfterCommitMs);
    evidence = await Promise.all(ends.map((d, i) => securedEvidence(d, tx.ports[i]!, tx.observable?.[i] ?? true)));
    if (stopped()) throw new Interrupted();
  } catch (e) {
    await rollbackBoth();
    if (e instanceof Interrupted || stopped()) {
      await journal.write({
        step: "verify",
        target: t,
        state: "rolled-back",
        message: `${INTERRUPTED} after commit: both ends rolled back`,
      });
      return {
        outcome: "interrupted",
        committed: true,
        detail: "interrupted after commit: both ends rolled back (unconfirmed commit cancelled)",
      };
    }
    await journal.write({ step: "verify", target: t, state: "rolled-back", message: (e as Error).message });
    throw new LinkcryptError("E_NOT_SECURED", `${(e as Error).message}; both ends rolled back`, { cause: e });
  }
  await journal.write({ step: "verify", target: t, state: "done", evidence });
  await spaceOut();
  await Promise.all(ends.filter((d) => d.flags.confirmedCommit).map((d) => d.confirm()));
  await journal.write({ step: "confirm", target: t, state: "done" });
  return { outcome: "changed", detail: `both ends changed and confirmed (${evidence.join(" | ")})`, diff, evidence };

  /** A sleep that an interrupt cuts short (then throws Interrupted). */
  async function pause(ms: number): Promise<void> {
    if (stopped()) throw new Interrupted();
    await clock.sleep(ms, o.signal);
    if (stopped()) throw new Interrupted();
  }

  /** Polls an end until its port is secured; an end whose MKA state is not observable is reported, not waited for. */
  async function securedEvidence(d: Driver, port: string, observable: boolean): Promise<string> {
    const until = clock.now() + o.securedTimeoutMs;
    for (;;) {
      const st = (await d.linkSecurity()).find((s) => s.port === port);
      if (st?.status === "secured") return `${d.device} ${port}: secured (${st.detail})`;
      if (!observable) {
        const deviceSaid = `${st?.status ?? "no state"}${st ? `, ${st.detail}` : ""}`;
        const notVerified =
          "secured: not verified (its profile sets mkaObservable: false, so apply does not wait for MKA; " +
          `the device said: ${deviceSaid})`;
        return `${d.device} ${port}: ${st?.detail.startsWith("secured: not verified") ? st.detail : notVerified}`;
      }
      if (clock.now() > until)
        throw new LinkcryptError(
          "E_NOT_SECURED",
          `${d.device} ${port} did not report secured within ${o.securedTimeoutMs} ms (last: ${st?.status ?? "no state"}${st ? `, ${st.detail}` : ""})`,
        );
      await pause(o.securedPollMs ?? 500);
    }
  }
}
