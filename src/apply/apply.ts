import type { ConfigChange, Driver, MacsecChange } from "../../drivers/contract.js";
import { driverFor, type AccessOptions } from "../discover/device-access.js";
import { LinkcryptError } from "../errors.js";
import type { MacsecSuiteId } from "../crypto/macsec-suites.js";
import type { Inventory } from "../model/inventory-schema.js";
import type { ProfileSet } from "../model/load-profiles.js";
import { generateMacsecKey, type MacsecKey } from "../keys/keys.js";
import { join } from "node:path";
import { lineDiff } from "../render/flatten-xml.js";
import { renderSwanctlConf } from "../render/swanctl.js";
import { meshConnSpecs } from "../mesh/conn-spec.js";
import { CONF_FILE, deliverMesh, type MeshAuth } from "../mesh/deliver.js";
import type { HostAccess } from "../mesh/host-access.js";
import type { LinkPlan, Plan } from "../planner/plan-types.js";
import { DeviceLimiter, type LimiterOptions } from "../transport/limiter.js";
import { SshPool } from "../transport/ssh.js";
import type { StateStore } from "../state/store.js";

/**
 * Apply executes a saved plan. A link is encrypted at both ends or at neither:
 *   stage both candidates -> commit both with a confirm timeout -> check both ends -> confirm both;
 * any failure rolls both ends back (cancel-commit, or simply letting the confirm timeout run out) and says so.
 * Every step is journaled; an unchanged link (empty candidate diff on both ends) is left alone, so a second run, or a
 * run after a crash, converges.
 */
export interface ApplyOptions {
  access: AccessOptions;
  store: StateStore;
  run: string;
  confirmTimeoutS: number;
  /** How long to wait for MKA to report the port secured on both ends before rolling back. */
  securedTimeoutMs: number;
  dryRun: boolean;
  /** Stop starting new work once this share of targets failed (0-100). */
  maxFailPercent: number;
  limits: LimiterOptions;
  meshAccess?: (meshName: string) => { hosts: HostAccess[]; auth: MeshAuth; lab: boolean } | undefined;
  /** Fault injection for tests only: sleep this long between commit and confirm (a crash window). */
  pauseAfterCommitMs?: number;
  /**
   * Aborted on SIGINT/SIGTERM: no new link starts; a link in flight is rolled back on both ends unless it is already
   * confirming (then it finishes); its outcome says which.
   */
  signal?: AbortSignal;
  onProgress?: (line: string) => void;
  now?: () => Date;
}

export interface TargetResult {
  target: string;
  kind: "macsec" | "l1" | "mesh";
  outcome: "unchanged" | "changed" | "failed" | "planned" | "interrupted";
  detail: string;
  diff?: string;
}

const safeName = (s: string) => `lc-${s.replace(/[^A-Za-z0-9_-]/g, "-")}`.slice(0, 60);

/** The MKA key of a link: generated once (CSPRNG), kept sealed in the state store, never printed. */
export async function linkKey(store: StateStore, link: string, suite: MacsecSuiteId): Promise<MacsecKey> {
  const k = `macsec/${link}`;
  const have = await store.getSecret(k);
  if (have) return parseKey(have, k, store);
  const key = generateMacsecKey(suite);
  await store.putSecret(k, JSON.stringify({ ...key, createdAt: new Date().toISOString() }));
  return key;
}

/** A stored key record, or a typed error naming it (never its content). */
export function parseKey(text: string, name: string, store: StateStore): MacsecKey {
  try {
    const { ckn, cak, cryptoAlgorithm } = JSON.parse(text) as MacsecKey;
    if (typeof ckn === "string" && typeof cak === "string" && (cryptoAlgorithm === "AES_128_CMAC" || cryptoAlgorithm === "AES_256_CMAC"))
      return { ckn, cak, cryptoAlgorithm };
  } catch {
    /* reported below */
  }
  throw new LinkcryptError("E_STATE", `the key ${name} in ${store.where} is not a MACsec key record; nothing was changed`);
}

/** The journal entries are a JSON shape anyone can read: this says why a run stopped. */
export const INTERRUPTED = "interrupted (SIGINT/SIGTERM)";

class Interrupted extends Error {}

export function macsecChanges(link: LinkPlan, key: MacsecKey, sakRekeySeconds: number): [MacsecChange, MacsecChange] {
  const mk = (port: string, priority: number): MacsecChange => ({
    kind: "macsec",
    policy: {
      name: safeName(link.name),
      suite: link.cipher as MacsecSuiteId,
      includeSci: link.macsec?.includeSci ?? true,
      keyServerPriority: priority,
      sakRekeySeconds,
      mustSecure: true,
    },
    keychain: { name: safeName(link.name), ckn: key.ckn, cak: key.cak, cryptoAlgorithm: key.cryptoAlgorithm },
    interfaces: [{ name: port, replayWindow: 64 }],
  });
  return [mk(link.a.slice(link.a.indexOf(":") + 1), 16), mk(link.b.slice(link.b.indexOf(":") + 1), 32)];
}

export async function applyPlan(plan: Plan, inv: Inventory, profiles: ProfileSet, o: ApplyOptions): Promise<TargetResult[]> {
  const pool = new SshPool();
  const limiter = new DeviceLimiter(o.limits);
  const device = (name: string) => {
    const d = inv.devices.find((x) => x.name === name);
    if (!d) throw new LinkcryptError("E_INPUT", `device ${name} from the plan is not in the inventory`);
    return d;
  };
  const say = (l: string) => o.onProgress?.(l);
  const journal = (step: string, target: string, state: "started" | "done" | "failed" | "rolled-back", detail?: string): Promise<void> =>
    o.store.append({ at: (o.now ?? (() => new Date()))().toISOString(), run: o.run, step, target, state, ...(detail ? { detail } : {}) });
  const results: TargetResult[] = [];
  const targets = plan.links.filter((l) => l.method === "macsec" || l.method === "l1");
  const stopped = () => o.signal?.aborted === true;
  // Generate every missing MKA key up front, sealed, in one transaction with a journal entry that names (only) them.
  // A dry run stages with throwaway keys and stores none: it changes nothing, the state included.
  const keys = new Map<string, MacsecKey>();
  const missing: Record<string, string> = {};
  for (const l of targets.filter((x) => x.method === "macsec")) {
    const name = `macsec/${l.name}`;
    const have = await o.store.getSecret(name);
    if (have) keys.set(l.name, parseKey(have, name, o.store));
    else {
      const key = generateMacsecKey(l.cipher as MacsecSuiteId);
      keys.set(l.name, key);
      missing[name] = JSON.stringify({ ...key, createdAt: new Date().toISOString() });
    }
  }
  if (Object.keys(missing).length && !o.dryRun)
    await o.store.putSecrets(missing, {
      at: new Date().toISOString(),
      run: o.run,
      step: "keys",
      target: Object.keys(missing).join(" "),
      state: "done",
      detail: `generated ${Object.keys(missing).length} MKA key(s), sealed in the state`,
    });
  const total = targets.length + plan.meshes.length;
  let failed = 0;
  let done = 0;
  const tooMany = () => total > 0 && (failed / total) * 100 > o.maxFailPercent;

  // Both ends of a link under the per-device limits (taken in sorted order) and one global slot.
  const both = <T>(a: string, b: string, fn: () => Promise<T>) => limiter.scheduleDevices([a, b], fn, [device(a).site, device(b).site]);

  async function securedEvidence(d: Driver, port: string, observable: boolean): Promise<string> {
    const until = Date.now() + o.securedTimeoutMs;
    for (;;) {
      const st = (await d.linkSecurity()).find((s) => s.port === port);
      if (st?.status === "secured") return `${d.device} ${port}: secured (${st.detail})`;
      if (!observable)
        return `${d.device} ${port}: ${st?.detail.startsWith("secured: not verified") ? st.detail : `secured: not verified (its profile sets mkaObservable: false, so apply does not wait for MKA; the device said: ${st?.status ?? "no state"}${st ? `, ${st.detail}` : ""})`}`;
      if (Date.now() > until)
        throw new LinkcryptError(
          "E_NOT_SECURED",
          `${d.device} ${port} did not report secured within ${o.securedTimeoutMs} ms (last: ${st?.status ?? "no state"}${st ? `, ${st.detail}` : ""})`,
        );
      await pause(500);
    }
  }

  /** A sleep that an interrupt cuts short (then throws Interrupted). */
  async function pause(ms: number): Promise<void> {
    if (stopped()) throw new Interrupted();
    await new Promise<void>((r) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        o.signal?.removeEventListener("abort", done);
        r();
      }
      o.signal?.addEventListener("abort", done, { once: true });
    });
    if (stopped()) throw new Interrupted();
  }

  async function transaction(
    link: LinkPlan,
    ends: [Driver, Driver],
    changes: [ConfigChange, ConfigChange],
    kind: "macsec" | "l1",
    mkaObservable: [boolean, boolean] = [true, true],
  ): Promise<TargetResult> {
    const t = link.name;
    await journal("stage", t, "started");
    // Each step runs on both ends at once; any failure rolls both back, so both-or-neither still holds.
    const rollbackBoth = () => Promise.all(ends.map((d) => d.rollback().catch(() => undefined)));
    // --per-device-interval holds inside a transaction too: stage, commit and confirm each start at least that long
    // after the previous step on these devices (the limiter spaces whole transactions, not the steps within one).
    let lastStep = 0;
    const spaceOut = async () => {
      const wait = lastStep + (o.limits.perDeviceMinTimeMs ?? 0) - Date.now();
      if (lastStep && wait > 0) await new Promise((r) => setTimeout(r, wait));
      lastStep = Date.now();
    };
    try {
      await spaceOut();
      const staged = await Promise.allSettled(ends.map((d, i) => d.loadCandidate(changes[i]!)));
      const stageFail = staged.findIndex((r) => r.status === "rejected");
      if (stageFail >= 0) {
        await rollbackBoth();
        throw (staged[stageFail] as PromiseRejectedResult).reason;
      }
      const diffs = await Promise.all(ends.map((d) => d.diff()));
      const diff = diffs
        .map((d, i) => (d ? `${ends[i]!.device}:\n${d}` : ""))
        .filter(Boolean)
        .join("\n");
      if (!diffs[0] && !diffs[1]) {
        await Promise.all(ends.map((d) => d.rollback()));
        await journal("stage", t, "done", "no change");
        return { target: t, kind, outcome: "unchanged", detail: "already as planned on both ends" };
      }
      if (o.dryRun) {
        await Promise.all(ends.map((d) => d.rollback()));
        await journal("stage", t, "rolled-back", "dry run");
        return { target: t, kind, outcome: "planned", detail: "would change both ends", diff };
      }
      if (stopped()) {
        await rollbackBoth();
        await journal("stage", t, "rolled-back", `${INTERRUPTED} before commit`);
        return { target: t, kind, outcome: "interrupted", detail: "interrupted before commit: both ends unchanged" };
      }
      await journal("stage", t, "done");
      await spaceOut(); // before the deadline is taken, so the journaled deadline is the device's
      const deadline = new Date(Date.now() + o.confirmTimeoutS * 1000).toISOString();
      await journal("commit", t, "started", `confirm deadline ${deadline}`);
      lastStep = Date.now(); // the commit reaches the devices now, after the journal write
      const committed = await Promise.allSettled(
        ends.map((d) => d.commit({ confirmTimeoutS: o.confirmTimeoutS, token: commitToken(o.run, t) })),
      );
      const refused = committed.flatMap((r, i) =>
        r.status === "rejected" ? [{ device: ends[i]!.device, why: (r.reason as Error).message }] : [],
      );
      if (refused.length) {
        await rollbackBoth();
        const others = ends.map((d) => d.device).filter((d) => !refused.some((r) => r.device === d));
        const what = `${refused.map((r) => r.device).join(" and ")} refused the commit${others.length ? `, so ${others.join(" and ")} was rolled back too` : ""} (both ends unchanged): ${refused.map((r) => r.why).join("; ")}`;
        await journal("commit", t, "rolled-back", what);
        throw new LinkcryptError("E_COMMIT", what);
      }
      await journal("commit", t, "done");
      // Only confirm once both ends show the link secured (MACsec: MKA status of the port; L1: encryptor status).
      await journal("verify", t, "started");
      let check: string[];
      try {
        if (o.pauseAfterCommitMs) await pause(o.pauseAfterCommitMs);
        check = await Promise.all(
          ends.map((d, i) =>
            securedEvidence(d, kind === "macsec" ? (i === 0 ? link.a : link.b).split(":").slice(1).join(":") : "line", mkaObservable[i]!),
          ),
        );
        if (stopped()) throw new Interrupted();
      } catch (e) {
        await rollbackBoth();
        if (e instanceof Interrupted || stopped()) {
          await journal("verify", t, "rolled-back", `${INTERRUPTED} after commit: both ends rolled back`);
          return {
            target: t,
            kind,
            outcome: "interrupted",
            detail: "interrupted after commit: both ends rolled back (unconfirmed commit cancelled)",
          };
        }
        await journal("verify", t, "rolled-back", (e as Error).message);
        throw new LinkcryptError("E_NOT_SECURED", `${(e as Error).message}; both ends rolled back`, { cause: e });
      }
      await journal("verify", t, "done", check.join(" | "));
      await spaceOut();
      await Promise.all(ends.filter((d) => d.flags.confirmedCommit).map((d) => d.confirm()));
      await journal("confirm", t, "done");
      return { target: t, kind, outcome: "changed", detail: `both ends changed and confirmed (${check.join(" | ")})`, diff };
    } catch (e) {
      await journal("transaction", t, "failed", (e as Error).message);
      return { target: t, kind, outcome: "failed", detail: (e as Error).message };
    }
  }

  try {
    await Promise.all(
      targets.map(async (link) => {
        if (tooMany()) {
          results.push({
            target: link.name,
            kind: link.method as "macsec" | "l1",
            outcome: "failed",
            detail: `not attempted: more than ${o.maxFailPercent}% of targets failed`,
          });
          return;
        }
        let r: TargetResult;
        try {
          if (stopped()) throw new Interrupted();
          if (link.method === "macsec") {
            const [a, b] = transactionEnds(link);
            const policy = profiles.policies.get(link.policy)!;
            const key = keys.get(link.name)!;
            const ends: [Driver, Driver] = [driverFor(device(a), profiles, pool, o.access), driverFor(device(b), profiles, pool, o.access)];
            r = await both(a, b, async () => {
              if (stopped()) throw new Interrupted();
              try {
                const observable = [a, b].map((n) => profiles.switches.get(device(n).profile)?.mkaObservable ?? true) as [boolean, boolean];
                return await transaction(
                  link,
                  ends,
                  macsecChanges(link, key, policy.lifetimes.macsecSakRekeySeconds),
                  "macsec",
                  observable,
                );
              } finally {
                await Promise.all(ends.map((d) => d.close().catch(() => undefined)));
              }
            });
          } else {
            const [a, b] = transactionEnds(link);
            const policy = profiles.policies.get(link.policy)!;
            const ends: [Driver, Driver] = [driverFor(device(a), profiles, pool, o.access), driverFor(device(b), profiles, pool, o.access)];
            const change: ConfigChange = {
              kind: "l1",
              settings: { cipher: link.cipher!, rotationInterval: policy.lifetimes.childSeconds, adminMode: "secure" },
            };
            r = await both(a, b, async () => {
              if (stopped()) throw new Interrupted();
              try {
                return await transaction(link, ends, [change, change], "l1");
              } finally {
                await Promise.all(ends.map((d) => d.close().catch(() => undefined)));
              }
            });
          }
        } catch (e) {
          r =
            e instanceof Interrupted
              ? { target: link.name, kind: link.method as "macsec" | "l1", outcome: "interrupted", detail: "not started: interrupted" }
              : { target: link.name, kind: link.method as "macsec" | "l1", outcome: "failed", detail: (e as Error).message };
        }
        if (r.outcome === "failed") failed++;
        done++;
        say(`[${done}/${total}] ${r.target}: ${r.outcome}${r.outcome === "failed" ? `: ${r.detail}` : ""}`);
        results.push(r);
      }),
    );
    for (const m of plan.meshes) {
      if (stopped()) {
        results.push({ target: `mesh ${m.name}`, kind: "mesh", outcome: "interrupted", detail: "not started: interrupted" });
        continue;
      }
      const acc = o.meshAccess?.(m.name);
      if (!acc) {
        results.push({ target: `mesh ${m.name}`, kind: "mesh", outcome: "failed", detail: "no access to the mesh hosts" });
        continue;
      }
      if (o.dryRun) {
        // Each host's swanctl diff: the rendered file against what is on the host (secrets live in another file).
        const diffs: string[] = [];
        for (const h of acc.hosts) {
          const rendered = renderSwanctlConf(h.name, meshConnSpecs(m, h.name, { forceEncap: acc.lab })).split("\n");
          const current = ((await h.readFile(join(h.confDir, CONF_FILE)).catch(() => undefined)) ?? "").split("\n");
          const d = lineDiff(current.filter(Boolean), rendered.filter(Boolean));
          if (d.length) diffs.push(`${h.name}:\n${d.join("\n")}`);
        }
        results.push({
          target: `mesh ${m.name}`,
          kind: "mesh",
          outcome: diffs.length ? "planned" : "unchanged",
          detail: diffs.length
            ? `${diffs.length} of ${acc.hosts.length} hosts would change (connections loaded one by one, no flush)`
            : "every host already has this configuration",
          ...(diffs.length ? { diff: diffs.join("\n") } : {}),
        });
        continue;
      }
      await journal("mesh", m.name, "started");
      try {
        const r = await deliverMesh(m, acc.hosts, acc.auth, { forceEncap: acc.lab });
        const changedHosts = r.hosts.filter((h) => h.loaded.length || h.unloaded.length).length;
        const err = r.hosts.find((h) => h.error);
        await journal("mesh", m.name, err ? "failed" : "done", `${r.pairsUp}/${r.pairsExpected} pairs up`);
        results.push({
          target: `mesh ${m.name}`,
          kind: "mesh",
          outcome: err ? "failed" : changedHosts ? "changed" : "unchanged",
          detail: err ? `${err.host}: ${err.error}` : `${r.pairsUp}/${r.pairsExpected} pairs up; ${changedHosts} host(s) changed`,
        });
      } catch (e) {
        await journal("mesh", m.name, "failed", (e as Error).message);
        results.push({ target: `mesh ${m.name}`, kind: "mesh", outcome: "failed", detail: (e as Error).message });
      }
    }
  } finally {
    await pool.closeAll();
    await limiter.stop();
  }
  return results.sort((a, b) => (a.target < b.target ? -1 : 1));
}

/** Unconfirmed commits a killed run may have left: the device rolls them back at their deadline. */
/** The two devices a link's transaction runs on: the switches for MACsec, the inline encryptors for L1. */
export function transactionEnds(link: LinkPlan): [string, string] {
  return link.method === "l1" ? link.l1!.encryptors : [link.a.split(":")[0]!, link.b.split(":")[0]!];
}

/** The handle a link's confirmed commit can be confirmed or cancelled by from a later process (NETCONF persist-id). */
export function commitToken(run: string, target: string): string {
  return `linkcrypt-${run}-${target}`;
}

export async function pendingDeadlines(store: StateStore, now: Date): Promise<{ run: string; target: string; deadline: Date }[]> {
  const out = new Map<string, Date>();
  for (const e of await store.journal()) {
    if (e.step === "commit" && e.state === "started" && e.detail?.startsWith("confirm deadline "))
      out.set(`${e.run}/${e.target}`, new Date(e.detail.slice(17)));
    if ((e.step === "confirm" && e.state === "done") || e.state === "failed" || e.state === "rolled-back")
      out.delete(`${e.run}/${e.target}`);
  }
  return [...out.entries()]
    .map(([k, deadline]) => ({ run: k.split("/")[0]!, target: k.split("/").slice(1).join("/"), deadline }))
    .filter((x) => x.deadline > now);
}
