import type { Driver, MacsecChange } from "../../drivers/contract.js";
import { driverFor, type AccessOptions } from "../discover/device-access.js";
import { LinkcryptError } from "../errors.js";
import type { MacsecSuiteId } from "../crypto/macsec-suites.js";
import type { Inventory } from "../model/inventory-schema.js";
import type { ProfileSet } from "../model/load-profiles.js";
import { generateMacsecKey, type MacsecKey } from "../keys/keys.js";
import type { Plan } from "../planner/plan-types.js";
import { SshPool } from "../transport/ssh.js";
import { INTERRUPTED, linkKey, macsecChanges, parseKey, transactionEnds } from "./apply.js";
import type { StateStore } from "../state/store.js";

function interruptible(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((r) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      r();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** An interrupt stopped the rotation between steps (or before a step's commits): the link runs on the old key, or on both. */
export class RotateInterrupted extends LinkcryptError {
  constructor(
    readonly stepName: string,
    readonly staged: boolean,
  ) {
    super("E_INTERRUPTED", `interrupted in step "${stepName}"${staged ? ": both ends rolled back" : " before it began"}`);
  }
}

/**
 * Make-before-break MACsec key rotation on one link, both ends at a time:
 *   1. install the new CKN/CAK beside the old one on both ends (confirmed commit, then confirm);
 *   2. check both ends still run the link;
 *   3. retire the old key on both ends.
 * MKA moves to the new key while the old one still works, so traffic never depends on a key only one end has.
 * The new key is kept in the state store as `next` until step 3 is done, so an interrupted rotation can resume.
 */
export async function rotateMacsecLink(
  plan: Plan,
  linkName: string,
  inv: Inventory,
  profiles: ProfileSet,
  o: {
    access: AccessOptions;
    store: StateStore;
    confirmTimeoutS: number;
    journal: (step: string, state: "started" | "done" | "failed" | "rolled-back", detail?: string) => Promise<void>;
    signal?: AbortSignal;
    pauseAfterCommitMs?: number;
  },
): Promise<{ oldCkn: string; newCkn: string }> {
  const link = plan.links.find((l) => l.name === linkName);
  if (!link || link.method !== "macsec") throw new LinkcryptError("E_INPUT", `"${linkName}" is not a MACsec link in the plan`);
  const policy = profiles.policies.get(link.policy)!;
  const old = await linkKey(o.store, link.name, link.cipher as MacsecSuiteId);
  const nextKeyName = `macsec/${link.name}/next`;
  const stored = await o.store.getSecret(nextKeyName);
  const next: MacsecKey = stored ? parseKey(stored, nextKeyName, o.store) : generateMacsecKey(link.cipher as MacsecSuiteId);
  if (!stored) await o.store.putSecret(nextKeyName, JSON.stringify(next));
  const pool = new SshPool();
  const dev = (n: string) => inv.devices.find((d) => d.name === n)!;
  const ends = transactionEnds(link).map((n) => driverFor(dev(n), profiles, pool, o.access)) as [Driver, Driver];
  const step = async (name: string, changes: [MacsecChange, MacsecChange]) => {
    // An interrupt starts no new step; a step whose commits have not begun is dropped on both ends.
    if (o.signal?.aborted) throw new RotateInterrupted(name, false);
    await o.journal(name, "started");
    await ends[0].loadCandidate(changes[0]);
    try {
      await ends[1].loadCandidate(changes[1]);
      if (o.signal?.aborted) throw new RotateInterrupted(name, true);
      await ends[0].commit({ confirmTimeoutS: o.confirmTimeoutS });
      try {
        await ends[1].commit({ confirmTimeoutS: o.confirmTimeoutS });
      } catch (e) {
        await ends[0].rollback().catch(() => undefined);
        throw e;
      }
      // Test-only fault injection (docs/apply.md): a window between commit and confirm; an interrupt in it rolls back.
      if (o.pauseAfterCommitMs) await interruptible(o.pauseAfterCommitMs, o.signal);
      if (o.signal?.aborted) throw new RotateInterrupted(name, true);
      await ends[0].confirm();
      await ends[1].confirm();
      await o.journal(name, "done");
    } catch (e) {
      await Promise.all(ends.map((d) => d.rollback().catch(() => undefined)));
      if (e instanceof RotateInterrupted) {
        await o.journal(name, "rolled-back", `${INTERRUPTED}: both ends rolled back to before this step`);
        throw e;
      }
      await o.journal(name, "failed", (e as Error).message);
      throw new LinkcryptError(
        "E_ROTATE",
        `${linkName}: rotation step "${name}" failed, both ends rolled back (the old key still works): ${(e as Error).message}`,
        { cause: e },
      );
    }
  };
  try {
    const withBoth = macsecChanges(link, old, policy.lifetimes.macsecSakRekeySeconds).map((c) => ({
      ...c,
      keychain: { ...c.keychain, nextKey: { ckn: next.ckn, cak: next.cak } },
    })) as [MacsecChange, MacsecChange];
    await step("install-next-key", withBoth);
    const onlyNew = macsecChanges(link, next, policy.lifetimes.macsecSakRekeySeconds).map((c) => ({
      ...c,
      keychain: { ...c.keychain, retireCkns: [old.ckn] },
    })) as [MacsecChange, MacsecChange];
    await step("retire-old-key", onlyNew);
    await o.store.putSecrets({
      [`macsec/${link.name}`]: JSON.stringify({ ...next, createdAt: new Date().toISOString() }),
      [nextKeyName]: "",
    });
    return { oldCkn: old.ckn, newCkn: next.ckn };
  } finally {
    await Promise.all(ends.map((d) => d.close().catch(() => undefined)));
    await pool.closeAll();
  }
}
