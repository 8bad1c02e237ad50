import type { MacsecChange } from "../../drivers/contract.js";
import type { AccessOptions } from "../devices/device-access.js";
import { LinkcryptError } from "../errors.js";
import type { MacsecSuiteId } from "../crypto/macsec-suites.js";
import type { Inventory } from "../model/inventory-schema.js";
import type { ProfileSet } from "../model/load-profiles.js";
import { generateMacsecKey, type MacsecKey } from "../keys/keys.js";
import type { Plan } from "../planner/plan-types.js";
import { SshPool } from "../transport/ssh.js";
import type { StateStore } from "../state/store.js";
import { linkKey, macsecChanges, parseKey } from "./apply.js";
import { type Clock, realClock } from "./clock.js";
import type { JournalWriter, RotateStep } from "./journal.js";
import { deviceEnds, type EndsFactory, transactionPorts } from "./link-ends.js";
import { INTERRUPTED, runLinkTransaction } from "./transaction.js";

/** An interrupt stopped the rotation between steps (or before a step's commits): the link runs on the old key, or on both. */
export class RotateInterrupted extends LinkcryptError {
  constructor(
    readonly stepName: string,
    readonly staged: boolean,
  ) {
    super("E_INTERRUPTED", `interrupted in step "${stepName}"${staged ? ": both ends rolled back" : " before it began"}`);
  }
}

export interface RotateLinkOptions {
  access: AccessOptions;
  store: StateStore;
  /** This run's journal (rotate's steps and the transaction's stage, commit, verify and confirm go here). */
  journal: JournalWriter;
  confirmTimeoutS: number;
  /** How long both ends may take to report the link secured after each step's commit (default 60 s). */
  securedTimeoutMs?: number;
  /** Called after each rotate step's journal entry (the CLI prints it). */
  onStep?: (step: RotateStep, state: "started" | "done" | "failed" | "rolled-back") => void;
  signal?: AbortSignal;
  pauseAfterCommitMs?: number;
  clock?: Clock;
  /** The drivers of the link's ends; the devices' own by default. */
  ends?: EndsFactory;
}

/**
 * Make-before-break MACsec key rotation on one link, both ends at a time, each step one two-ends transaction
 * (src/apply/transaction.ts: a commit token, the secured check after the commit, both ends rolled back when either
 * fails or the link is not secured):
 *   1. install the new CKN/CAK beside the old one on both ends;
 *   2. retire the old key on both ends.
 * MKA moves to the new key while the old one still works, so traffic never depends on a key only one end has.
 * The new key is kept in the state store as `next` until step 2 is done, so an interrupted rotation can resume.
 */
export async function rotateMacsecLink(
  plan: Plan,
  linkName: string,
  inv: Inventory,
  profiles: ProfileSet,
  o: RotateLinkOptions,
): Promise<{ oldCkn: string; newCkn: string }> {
  const clock = o.clock ?? realClock;
  const link = plan.links.find((l) => l.name === linkName);
  if (link?.method !== "macsec") throw new LinkcryptError("E_INPUT", `"${linkName}" is not a MACsec link in the plan`);
  const policy = profiles.policies.get(link.policy)!;
  const old = await linkKey(o.store, link.name, link.cipher as MacsecSuiteId, clock);
  const nextKeyName = `macsec/${link.name}/next`;
  const stored = await o.store.getSecret(nextKeyName);
  const next: MacsecKey = stored ? parseKey(stored, nextKeyName, o.store) : generateMacsecKey(link.cipher as MacsecSuiteId);
  if (!stored) await o.store.putSecret(nextKeyName, JSON.stringify(next));
  const pool = new SshPool();
  const { ends, observable } = (o.ends ?? deviceEnds(inv, profiles, pool, o.access))(link);
  const note = async (step: RotateStep, state: "started" | "done" | "failed" | "rolled-back", message?: string) => {
    await o.journal.write({ step: "rotate", rotateStep: step, target: linkName, state, ...(message ? { message } : {}) });
    o.onStep?.(step, state);
  };
  const step = async (name: RotateStep, changes: [MacsecChange, MacsecChange], index: number) => {
    // An interrupt starts no new step.
    if (o.signal?.aborted) throw new RotateInterrupted(name, false);
    await note(name, "started");
    let r: Awaited<ReturnType<typeof runLinkTransaction>>;
    try {
      r = await runLinkTransaction(
        {
          target: link.name,
          kind: "macsec",
          ends,
          changes,
          ports: transactionPorts(link),
          observable,
          // One token per step: a later run cancels exactly the step this run left unconfirmed.
          token: `linkcrypt-${o.journal.run}-${link.name}-${index}`,
        },
        {
          journal: o.journal,
          scope: "rotate",
          clock,
          confirmTimeoutS: o.confirmTimeoutS,
          securedTimeoutMs: o.securedTimeoutMs ?? 60_000,
          commitUnchanged: true,
          ...(o.pauseAfterCommitMs ? { pauseAfterCommitMs: o.pauseAfterCommitMs } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
        },
      );
    } catch (e) {
      await note(name, "failed", (e as Error).message);
      throw new LinkcryptError(
        "E_ROTATE",
        `${linkName}: rotation step "${name}" failed, both ends rolled back (the old key still works): ${(e as Error).message}`,
        { cause: e },
      );
    }
    if (r.outcome === "interrupted") {
      await note(name, "rolled-back", `${INTERRUPTED}: both ends rolled back to before this step`);
      throw new RotateInterrupted(name, true);
    }
    await note(name, "done");
  };
  try {
    const withBoth = macsecChanges(link, old, policy.lifetimes.macsecSakRekeySeconds).map((c) => ({
      ...c,
      keychain: { ...c.keychain, nextKey: { ckn: next.ckn, cak: next.cak } },
    })) as [MacsecChange, MacsecChange];
    await step("install-next-key", withBoth, 1);
    const onlyNew = macsecChanges(link, next, policy.lifetimes.macsecSakRekeySeconds).map((c) => ({
      ...c,
      keychain: { ...c.keychain, retireCkns: [old.ckn] },
    })) as [MacsecChange, MacsecChange];
    await step("retire-old-key", onlyNew, 2);
    await o.store.putSecrets({
      [`macsec/${link.name}`]: JSON.stringify({ ...next, createdAt: new Date(clock.now()).toISOString() }),
      [nextKeyName]: "",
    });
    return { oldCkn: old.ckn, newCkn: next.ckn };
  } finally {
    await Promise.all(ends.map((d) => d.close().catch(() => undefined)));
    await pool.closeAll();
  }
}
