import type { ConfigChange, MacsecChange } from "../../drivers/contract.js";
import type { AccessOptions } from "../devices/device-access.js";
import { LinkcryptError } from "../errors.js";
import type { MacsecSuiteId } from "../crypto/macsec-suites.js";
import type { Inventory } from "../model/inventory-schema.js";
import type { ProfileSet } from "../model/load-profiles.js";
import { batches as splitBatches } from "../model/limit.js";
import { generateMacsecKey, type MacsecKey } from "../keys/keys.js";
import { deliverMesh, type MeshAuth, previewMeshDelivery } from "../mesh/deliver.js";
import type { HostAccess } from "../mesh/host-access.js";
import type { LinkPlan, MeshPlan, Plan } from "../planner/plan-types.js";
import { DeviceLimiter, type LimiterOptions } from "../transport/limiter.js";
import { SshPool } from "../transport/ssh.js";
import type { StateStore } from "../state/store.js";
import { type Clock, realClock } from "./clock.js";
import { commitToken, encodeEntry, JournalWriter } from "./journal.js";
import { deviceEnds, type EndsFactory, transactionEnds, transactionPorts } from "./link-ends.js";
import { runLinkTransaction } from "./transaction.js";

export { commitToken } from "./journal.js";
export { transactionEnds } from "./link-ends.js";
export { INTERRUPTED } from "./transaction.js";

/**
 * Apply executes a saved plan. A link is encrypted at both ends or at neither (src/apply/transaction.ts):
 *   stage both candidates -> commit both with a confirm timeout -> check both ends -> confirm both;
 * any failure rolls both ends back (cancel-commit, or simply letting the confirm timeout run out) and says so.
 * Every step is journaled; an unchanged link (empty candidate diff on both ends) is left alone, so a second run, or a
 * run after a crash, converges.
 *
 * With a limit, only the selected links (and mesh hosts) are touched; the others are reported "skipped (--limit)".
 * With batches, the selected targets go in consecutive batches, in plan order (links, then meshes); when more than
 * --max-fail-percent of the targets have failed after a batch, the later batches are not started.
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
  /** The clock and the sleeps (real by default; tests pass a fake one). */
  clock?: Clock;
  /** --limit: the links and mesh hosts that may be touched; anything else is skipped. Absent: everything. */
  limit?: { links: ReadonlySet<string>; hosts: ReadonlySet<string> };
  /** --batch: consecutive batches of the selected targets. Absent: one batch. */
  batch?: { count: number } | { percent: number };
  /** The drivers of a link's ends; the devices' own drivers by default (tests and the bench simulate them). */
  ends?: EndsFactory;
}

export interface TargetResult {
  target: string;
  kind: "macsec" | "l1" | "mesh";
  outcome: "unchanged" | "changed" | "failed" | "planned" | "interrupted" | "skipped";
  detail: string;
  diff?: string;
  /** The batch (from 1) the target ran in, with --batch. */
  batch?: number;
}

/** What --limit leaves out is reported with this detail. */
export const SKIPPED_BY_LIMIT = "skipped (--limit)";

const safeName = (s: string) => `lc-${s.replace(/[^A-Za-z0-9_-]/g, "-")}`.slice(0, 60);

/** The MKA key of a link: generated once (CSPRNG), kept sealed in the state store, never printed. */
export async function linkKey(store: StateStore, link: string, suite: MacsecSuiteId, clock: Clock = realClock): Promise<MacsecKey> {
  const k = `macsec/${link}`;
  const have = await store.getSecret(k);
  if (have) return parseKey(have, k, store);
  const key = generateMacsecKey(suite);
  await store.putSecret(k, JSON.stringify({ ...key, createdAt: new Date(clock.now()).toISOString() }));
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

type Target = { kind: "link"; link: LinkPlan } | { kind: "mesh"; mesh: MeshPlan };
const targetName = (t: Target) => (t.kind === "link" ? t.link.name : `mesh ${t.mesh.name}`);
const targetKind = (t: Target) => (t.kind === "link" ? linkKind(t.link) : "mesh");
const linkKind = (l: LinkPlan) => l.method as "macsec" | "l1";

/** What one run shares: options, journal, clock, limiter, the links' ends and keys. */
interface RunContext {
  o: ApplyOptions;
  profiles: ProfileSet;
  journal: JournalWriter;
  clock: Clock;
  limiter: DeviceLimiter;
  endsOf: EndsFactory;
  siteOf: (device: string) => string;
  keys: Map<string, MacsecKey>;
  stopped: () => boolean;
}

export async function applyPlan(plan: Plan, inv: Inventory, profiles: ProfileSet, o: ApplyOptions): Promise<TargetResult[]> {
  const clock = o.clock ?? realClock;
  const pool = new SshPool();
  const limiter = new DeviceLimiter(o.limits);
  const journal = new JournalWriter(o.store, o.run, clock);
  const say = (l: string) => o.onProgress?.(l);
  const { selected, skipped } = selectTargets(plan, o.limit);
  const results: TargetResult[] = [...skipped];
  const ctx: RunContext = {
    o,
    profiles,
    journal,
    clock,
    limiter,
    endsOf: o.ends ?? deviceEnds(inv, profiles, pool, o.access),
    siteOf: (name) => {
      const d = inv.devices.find((x) => x.name === name);
      if (!d) throw new LinkcryptError("E_INPUT", `device ${name} from the plan is not in the inventory`);
      return d.site;
    },
    keys: await linkKeys(selected, o.store, journal, clock, o.dryRun),
    stopped: () => o.signal?.aborted === true,
  };
  const total = selected.length;
  let failed = 0;
  let done = 0;
  const tooMany = () => total > 0 && (failed / total) * 100 > o.maxFailPercent;
  // Progress lines are for links (meshes report when they are done, in the result table).
  const record = (r: TargetResult, progress: boolean) => {
    if (r.outcome === "failed") failed++;
    results.push(r);
    if (!progress) return;
    done++;
    say(`[${done}/${total}] ${r.target}: ${r.outcome}${r.outcome === "failed" ? `: ${r.detail}` : ""}`);
  };
  const notAttempted = (t: Target, why: string, tag: { batch?: number }) =>
    results.push({ target: targetName(t), kind: targetKind(t), outcome: "failed", detail: `not attempted: ${why}`, ...tag });

  const runs = o.batch ? splitBatches(selected, o.batch) : [selected];
  try {
    for (const [i, batch] of runs.entries()) {
      const tag = o.batch ? { batch: i + 1 } : {};
      if (i > 0 && tooMany()) {
        // A failing batch stops the later ones: nothing in them is touched.
        for (const t of batch) notAttempted(t, `more than ${o.maxFailPercent}% of targets failed by the end of batch ${i}`, tag);
        continue;
      }
      if (o.batch) say(`batch ${i + 1}/${runs.length}: ${batch.map(targetName).join(", ")}`);
      // Links in parallel (under the limiter), then meshes one by one, as without batches.
      await Promise.all(
        batch.map(async (t) => {
          if (t.kind !== "link") return;
          if (tooMany()) return void notAttempted(t, `more than ${o.maxFailPercent}% of targets failed`, tag);
          const r = await applyLink(ctx, t.link).catch(
            (e: Error): TargetResult => ({ target: t.link.name, kind: linkKind(t.link), outcome: "failed", detail: e.message }),
          );
          record({ ...r, ...tag }, true);
        }),
      );
      for (const t of batch) if (t.kind === "mesh") record({ ...(await applyMesh(ctx, t.mesh)), ...tag }, false);
    }
  } finally {
    await pool.closeAll();
    await limiter.stop();
  }
  return results.sort((a, b) => (a.target < b.target ? -1 : 1));
}

/** The mesh hosts a limit lets apply touch. */
const meshHosts = (m: MeshPlan, limit: ApplyOptions["limit"]) => m.members.map((x) => x.name).filter((h) => !limit || limit.hosts.has(h));

/** The links (MACsec, L1) and meshes to apply, in plan order, and those --limit leaves out. */
function selectTargets(plan: Plan, limit: ApplyOptions["limit"]): { selected: Target[]; skipped: TargetResult[] } {
  const selected: Target[] = [];
  const skipped: TargetResult[] = [];
  for (const link of plan.links.filter((l) => l.method === "macsec" || l.method === "l1")) {
    if (limit && !limit.links.has(link.name))
      skipped.push({ target: link.name, kind: linkKind(link), outcome: "skipped", detail: SKIPPED_BY_LIMIT });
    else selected.push({ kind: "link", link });
  }
  for (const mesh of plan.meshes) {
    if (meshHosts(mesh, limit).length === 0)
      skipped.push({ target: `mesh ${mesh.name}`, kind: "mesh", outcome: "skipped", detail: SKIPPED_BY_LIMIT });
    else selected.push({ kind: "mesh", mesh });
  }
  return { selected, skipped };
}

/**
 * The MKA key of every selected MACsec link. Missing ones are generated up front, sealed, in one transaction with a
 * journal entry that names (only) them. A dry run stages with throwaway keys and stores none: it changes nothing,
 * the state included.
 */
async function linkKeys(
  selected: Target[],
  store: StateStore,
  journal: JournalWriter,
  clock: Clock,
  dryRun: boolean,
): Promise<Map<string, MacsecKey>> {
  const keys = new Map<string, MacsecKey>();
  const missing: Record<string, string> = {};
  for (const t of selected) {
    if (t.kind !== "link" || t.link.method !== "macsec") continue;
    const l = t.link;
    const name = `macsec/${l.name}`;
    const have = await store.getSecret(name);
    if (have) keys.set(l.name, parseKey(have, name, store));
    else {
      const key = generateMacsecKey(l.cipher as MacsecSuiteId);
      keys.set(l.name, key);
      missing[name] = JSON.stringify({ ...key, createdAt: new Date(clock.now()).toISOString() });
    }
  }
  const names = Object.keys(missing);
  if (names.length && !dryRun)
    await store.putSecrets(
      missing,
      encodeEntry(
        journal.entry({
          step: "keys",
          target: names.join(" "),
          state: "done",
          keys: names,
          message: `generated ${names.length} MKA key(s), sealed in the state`,
        }),
      ),
    );
  return keys;
}

/** What each end of a link is given: MACsec policy, key chain and port, or the L1 encryptor's settings. */
function linkChanges(link: LinkPlan, key: MacsecKey | undefined, profiles: ProfileSet): [ConfigChange, ConfigChange] {
  const policy = profiles.policies.get(link.policy)!;
  if (link.method === "macsec") return macsecChanges(link, key!, policy.lifetimes.macsecSakRekeySeconds);
  const change: ConfigChange = {
    kind: "l1",
    settings: { cipher: link.cipher!, rotationInterval: policy.lifetimes.childSeconds, adminMode: "secure" },
  };
  return [change, change];
}

/** One link's two-ends transaction, under the limiter: both ends' per-device limits (in sorted order) and one global slot. */
async function applyLink(c: RunContext, link: LinkPlan): Promise<TargetResult> {
  const { o, journal } = c;
  const kind = linkKind(link);
  const interrupted: TargetResult = { target: link.name, kind, outcome: "interrupted", detail: "not started: interrupted" };
  if (c.stopped()) return interrupted;
  const [a, b] = transactionEnds(link);
  const changes = linkChanges(link, c.keys.get(link.name), c.profiles);
  const { ends, observable } = c.endsOf(link);
  return c.limiter.scheduleDevices([a, b], async (): Promise<TargetResult> => {
    if (c.stopped()) return interrupted;
    try {
      const r = await runLinkTransaction(
        { target: link.name, kind, ends, changes, ports: transactionPorts(link), observable, token: commitToken(o.run, link.name) },
        {
          journal,
          clock: c.clock,
          confirmTimeoutS: o.confirmTimeoutS,
          securedTimeoutMs: o.securedTimeoutMs,
          dryRun: o.dryRun,
          minStepIntervalMs: o.limits.perDeviceMinTimeMs ?? 0,
          ...(o.pauseAfterCommitMs ? { pauseAfterCommitMs: o.pauseAfterCommitMs } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
        },
      );
      return {
        target: link.name,
        kind,
        outcome: r.outcome,
        detail: r.detail,
        ...(r.outcome === "planned" || r.outcome === "changed" ? { diff: r.diff } : {}),
      };
    } catch (e) {
      await journal.write({ step: "transaction", target: link.name, state: "failed", message: (e as Error).message });
      return { target: link.name, kind, outcome: "failed", detail: (e as Error).message };
    } finally {
      await Promise.all(ends.map((d) => d.close().catch(() => undefined)));
    }
  }, [c.siteOf(a), c.siteOf(b)]);
}

/** One mesh: its swanctl diff per host (dry run), or the delivery to the hosts --limit selects. */
async function applyMesh(c: RunContext, m: MeshPlan): Promise<TargetResult> {
  const { o, journal } = c;
  const target = `mesh ${m.name}`;
  if (c.stopped()) return { target, kind: "mesh", outcome: "interrupted", detail: "not started: interrupted" };
  const acc = o.meshAccess?.(m.name);
  if (!acc) return { target, kind: "mesh", outcome: "failed", detail: "no access to the mesh hosts" };
  const allowed = new Set(meshHosts(m, o.limit));
  const hosts = acc.hosts.filter((h) => allowed.has(h.name));
  if (o.dryRun) {
    // The mesh delivery's own dry run: each host's swanctl.conf as delivery would write it (drop shunts included)
    // against the file on the host, and the connections and PSK ids (never keys) it would load and unload.
    const previews = await previewMeshDelivery(m, hosts, acc.auth, { forceEncap: acc.lab });
    const diffs = previews
      .filter((p) => p.diff.length > 0 || p.unload.length > 0 || p.secretsUnload.length > 0)
      .map((p) => `${p.host}:\n${[...p.diff, ...p.unload.map((c) => `- connection ${c} (unloaded)`)].join("\n")}`);
    return {
      target,
      kind: "mesh",
      outcome: diffs.length ? "planned" : "unchanged",
      detail: diffs.length
        ? `${diffs.length} of ${hosts.length} hosts would change (connections loaded one by one, no flush)`
        : "every host already has this configuration",
      ...(diffs.length ? { diff: diffs.join("\n") } : {}),
    };
  }
  await journal.write({ step: "mesh", target: m.name, state: "started" });
  try {
    const r = await deliverMesh(m, hosts, acc.auth, { forceEncap: acc.lab });
    const changedHosts = r.hosts.filter((h) => h.loaded.length || h.unloaded.length).length;
    const err = r.hosts.find((h) => h.error);
    await journal.write({
      step: "mesh",
      target: m.name,
      state: err ? "failed" : "done",
      message: `${r.pairsUp}/${r.pairsExpected} pairs up`,
    });
    return {
      target,
      kind: "mesh",
      outcome: err ? "failed" : changedHosts ? "changed" : "unchanged",
      detail: err ? `${err.host}: ${err.error}` : `${r.pairsUp}/${r.pairsExpected} pairs up; ${changedHosts} host(s) changed`,
    };
  } catch (e) {
    await journal.write({ step: "mesh", target: m.name, state: "failed", message: (e as Error).message });
    return { target, kind: "mesh", outcome: "failed", detail: (e as Error).message };
  }
}
