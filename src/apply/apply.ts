import { join } from "node:path";
import type { ConfigChange, MacsecChange } from "../../drivers/contract.js";
import type { AccessOptions } from "../devices/device-access.js";
import { LinkcryptError } from "../errors.js";
import type { MacsecSuiteId } from "../crypto/macsec-suites.js";
import type { Inventory } from "../model/inventory-schema.js";
import type { ProfileSet } from "../model/load-profiles.js";
import { batches as splitBatches } from "../model/limit.js";
import { generateMacsecKey, type MacsecKey } from "../keys/keys.js";
import { lineDiff } from "../render/flatten-xml.js";
import { renderSwanctlConf } from "../render/swanctl.js";
import { meshConnSpecs } from "../planner/conn-spec.js";
import { CONF_FILE, deliverMesh, type MeshAuth } from "../mesh/deliver.js";
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
const linkKind = (l: LinkPlan) => l.method as "macsec" | "l1";

export async function applyPlan(plan: Plan, inv: Inventory, profiles: ProfileSet, o: ApplyOptions): Promise<TargetResult[]> {
  const clock = o.clock ?? realClock;
  const pool = new SshPool();
  const limiter = new DeviceLimiter(o.limits);
  const journal = new JournalWriter(o.store, o.run, clock);
  const endsOf = o.ends ?? deviceEnds(inv, profiles, pool, o.access);
  const siteOf = (name: string) => {
    const d = inv.devices.find((x) => x.name === name);
    if (!d) throw new LinkcryptError("E_INPUT", `device ${name} from the plan is not in the inventory`);
    return d.site;
  };
  const say = (l: string) => o.onProgress?.(l);
  const results: TargetResult[] = [];
  const stopped = () => o.signal?.aborted === true;

  const links = plan.links.filter((l) => l.method === "macsec" || l.method === "l1");
  const meshHosts = (m: MeshPlan) => m.members.map((x) => x.name).filter((h) => !o.limit || o.limit.hosts.has(h));
  const selected: Target[] = [];
  for (const link of links) {
    if (o.limit && !o.limit.links.has(link.name))
      results.push({ target: link.name, kind: linkKind(link), outcome: "skipped", detail: SKIPPED_BY_LIMIT });
    else selected.push({ kind: "link", link });
  }
  for (const mesh of plan.meshes) {
    if (meshHosts(mesh).length === 0)
      results.push({ target: `mesh ${mesh.name}`, kind: "mesh", outcome: "skipped", detail: SKIPPED_BY_LIMIT });
    else selected.push({ kind: "mesh", mesh });
  }

  // Generate every missing MKA key up front, sealed, in one transaction with a journal entry that names (only) them.
  // A dry run stages with throwaway keys and stores none: it changes nothing, the state included.
  const keys = new Map<string, MacsecKey>();
  const missing: Record<string, string> = {};
  for (const t of selected) {
    if (t.kind !== "link" || t.link.method !== "macsec") continue;
    const l = t.link;
    const name = `macsec/${l.name}`;
    const have = await o.store.getSecret(name);
    if (have) keys.set(l.name, parseKey(have, name, o.store));
    else {
      const key = generateMacsecKey(l.cipher as MacsecSuiteId);
      keys.set(l.name, key);
      missing[name] = JSON.stringify({ ...key, createdAt: new Date(clock.now()).toISOString() });
    }
  }
  if (Object.keys(missing).length && !o.dryRun)
    await o.store.putSecrets(
      missing,
      encodeEntry(
        journal.entry({
          step: "keys",
          target: Object.keys(missing).join(" "),
          state: "done",
          keys: Object.keys(missing),
          message: `generated ${Object.keys(missing).length} MKA key(s), sealed in the state`,
        }),
      ),
    );
  const total = selected.length;
  let failed = 0;
  let done = 0;
  const tooMany = () => total > 0 && (failed / total) * 100 > o.maxFailPercent;
  // Progress lines are for links (meshes report when they are done, in the result table).
  const record = (r: TargetResult, progress = true) => {
    if (r.outcome === "failed") failed++;
    results.push(r);
    if (!progress) return;
    done++;
    say(`[${done}/${total}] ${r.target}: ${r.outcome}${r.outcome === "failed" ? `: ${r.detail}` : ""}`);
  };

  async function applyLink(link: LinkPlan): Promise<TargetResult> {
    const kind = linkKind(link);
    if (stopped()) return { target: link.name, kind, outcome: "interrupted", detail: "not started: interrupted" };
    const [a, b] = transactionEnds(link);
    const policy = profiles.policies.get(link.policy)!;
    const changes: [ConfigChange, ConfigChange] =
      link.method === "macsec"
        ? macsecChanges(link, keys.get(link.name)!, policy.lifetimes.macsecSakRekeySeconds)
        : (() => {
            const change: ConfigChange = {
              kind: "l1",
              settings: { cipher: link.cipher!, rotationInterval: policy.lifetimes.childSeconds, adminMode: "secure" },
            };
            return [change, change] as [ConfigChange, ConfigChange];
          })();
    const { ends, observable } = endsOf(link);
    // Both ends of a link under the per-device limits (taken in sorted order) and one global slot.
    return limiter.scheduleDevices([a, b], async (): Promise<TargetResult> => {
      if (stopped()) return { target: link.name, kind, outcome: "interrupted", detail: "not started: interrupted" };
      try {
        const r = await runLinkTransaction(
          { target: link.name, kind, ends, changes, ports: transactionPorts(link), observable, token: commitToken(o.run, link.name) },
          {
            journal,
            clock,
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
    }, [siteOf(a), siteOf(b)]);
  }

  async function applyMesh(m: MeshPlan): Promise<TargetResult> {
    const target = `mesh ${m.name}`;
    if (stopped()) return { target, kind: "mesh", outcome: "interrupted", detail: "not started: interrupted" };
    const acc = o.meshAccess?.(m.name);
    if (!acc) return { target, kind: "mesh", outcome: "failed", detail: "no access to the mesh hosts" };
    const allowed = new Set(meshHosts(m));
    const hosts = acc.hosts.filter((h) => allowed.has(h.name));
    if (o.dryRun) {
      // Each host's swanctl diff: the rendered file against what is on the host (secrets live in another file).
      const diffs: string[] = [];
      for (const h of hosts) {
        const rendered = renderSwanctlConf(h.name, meshConnSpecs(m, h.name, { forceEncap: acc.lab })).split("\n");
        const current = ((await h.readFile(join(h.confDir, CONF_FILE)).catch(() => undefined)) ?? "").split("\n");
        const d = lineDiff(current.filter(Boolean), rendered.filter(Boolean));
        if (d.length) diffs.push(`${h.name}:\n${d.join("\n")}`);
      }
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

  const runs = o.batch ? splitBatches(selected, o.batch) : [selected];
  try {
    for (const [i, batch] of runs.entries()) {
      const tag = o.batch ? { batch: i + 1 } : {};
      if (i > 0 && tooMany()) {
        // A failing batch stops the later ones: nothing in them is touched.
        for (const t of batch)
          results.push({
            target: targetName(t),
            kind: t.kind === "link" ? linkKind(t.link) : "mesh",
            outcome: "failed",
            detail: `not attempted: more than ${o.maxFailPercent}% of targets failed by the end of batch ${i}`,
            ...tag,
          });
        continue;
      }
      if (o.batch) say(`batch ${i + 1}/${runs.length}: ${batch.map(targetName).join(", ")}`);
      // Links in parallel (under the limiter), then meshes one by one, as without batches.
      await Promise.all(
        batch.flatMap((t) =>
          t.kind !== "link"
            ? []
            : [
                (async () => {
                  const link = t.link;
                  if (tooMany()) {
                    results.push({
                      target: link.name,
                      kind: linkKind(link),
                      outcome: "failed",
                      detail: `not attempted: more than ${o.maxFailPercent}% of targets failed`,
                      ...tag,
                    });
                    return;
                  }
                  let r: TargetResult;
                  try {
                    r = await applyLink(link);
                  } catch (e) {
                    r = { target: link.name, kind: linkKind(link), outcome: "failed", detail: (e as Error).message };
                  }
                  record({ ...r, ...tag });
                })(),
              ],
        ),
      );
      for (const t of batch) if (t.kind === "mesh") record({ ...(await applyMesh(t.mesh)), ...tag }, false);
    }
  } finally {
    await pool.closeAll();
    await limiter.stop();
  }
  return results.sort((a, b) => (a.target < b.target ? -1 : 1));
}
