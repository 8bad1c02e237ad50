import { setMaxListeners } from "node:events";
import type { JournalEntry } from "../state/store.js";
import { checkPairs, type PairFinding } from "../mesh/check-pairs.js";
import type { HostAccess } from "../mesh/host-access.js";
import { connName } from "../planner/conn-spec.js";
import { repairPairs } from "../mesh/operations.js";
import { saTableFromVici, type HostSaTable } from "../mesh/sa-table.js";
import type { MeshPlan, Plan } from "../planner/plan-types.js";
import type { ViciClient, ViciMessage } from "../transport/vici.js";
import type { VerifyReport, VerifyStatus } from "../verify/verify.js";
import type { KeyStamp } from "../metrics/key-ages.js";
import { DeviceLimiter } from "../transport/limiter.js";
import type { ProfileSet } from "../model/load-profiles.js";
import { dueRotations, pendingChanges, suspectedDrift, type AutoApplyDomain } from "./auto-apply.js";
import type { DeviceCheck, DeviceScheduler, DeviceTarget } from "./devices.js";
import { fullEntries, leanOf, leanSecured } from "./sweep.js";
import type { Leadership } from "./leader.js";
import { newCid, type Logger } from "./log.js";

/**
 * `linkcrypt serve`'s reconciler. While it leads (see leader.ts) it:
 * - watches every mesh host's VICI event stream (ike-updown, child-updown, child-rekey), reconnecting with backoff;
 *   a down event makes it check that one pair at once;
 * - verifies everything (links, pairs) periodically, with jitter;
 * - repairs half, down and stuck mesh pairs, with bounded retries and backoff, each repair one journal run
 *   (`serve-repair`: started, then done or failed, with its reason);
 * - stops acting when more than a set share of the pairs is broken at once (the global breaker), or for a host that
 *   keeps failing (a host's breaker: its watcher dropped or its repairs failed `flapLimit` times within
 *   `flapWindowMs`), and raises an alert in the metrics and on the status page;
 * - on taking the lead, finishes the previous leader's repair that the journal shows in flight: if the pair is up,
 *   it only closes the run (never a second repair), otherwise it repairs it under the same run.
 * Time, sleeping, randomness, the pair check and the repair are injected, so tests drive it without real timers.
 */
export interface Clock {
  now(): number;
  /** Resolves after ms, or early once `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  random(): number;
}

export const realClock: Clock = {
  now: () => Date.now(),
  random: () => Math.random(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        signal?.removeEventListener("abort", done);
        resolve();
      }
      signal?.addEventListener("abort", done, { once: true });
    }),
};

export interface ServeTarget {
  plan: Plan;
  meshes: { mesh: MeshPlan; hosts: HostAccess[] }[];
  /** A full verify (links and pairs), the same as `linkcrypt verify --json`. */
  verify(): Promise<VerifyReport>;
  /** When the keys linkcrypt keeps were made (MACsec CAKs, PSK mesh masters), for the key-age metrics. */
  keyAges?(): Promise<KeyStamp[]>;
  /** Why the inventory on disk no longer matches the loaded plan ("plan pending"), if it does not. Never applied. */
  planPending?(): string | undefined;
  /** The plan the inventory on disk makes now, when it differs (for --auto-apply's journal: what it changes). */
  pendingPlan?(): Plan | undefined;
  /** The policies, for the keys' maximum ages (--auto-apply rotates keys past them). */
  profiles?: Pick<ProfileSet, "policies">;
  /** Switches and L1 encryptors to check between full verifies (see devices.ts). */
  devices?: DeviceTarget[];
  /** One device's link security, as its driver reads it. Called through the limiter only. */
  checkDevice?(name: string): Promise<DeviceCheck>;
  close?(): Promise<void>;
}

export interface JournalSink {
  append(e: JournalEntry): Promise<void>;
  journal(): Promise<JournalEntry[]>;
}

export interface PairCheck {
  finding: PairFinding;
  /** Hosts that could not be read. */
  unreachable: string[];
}

export interface ServeDeps {
  /** Loads the inventory and profiles and plans them; called at start and on every reload (SIGHUP). */
  load(): Promise<ServeTarget>;
  journal: JournalSink;
  leadership: Leadership;
  log: Logger;
  clock?: Clock;
  checkPair?(mesh: MeshPlan, a: string, b: string, hosts: readonly HostAccess[]): Promise<PairCheck>;
  repair?(pair: { a: string; b: string }, hosts: readonly HostAccess[]): Promise<{ ok: boolean; detail: string }>;
  /** The limiter device checks go through; serve's CLI passes the one its full verify's link part uses. */
  limiter?: DeviceScheduler;
  /** The apply and rotate domain, for --auto-apply (auto-apply.ts). */
  autoApply?: AutoApplyDomain;
}

export interface ServeOptions {
  verifyIntervalMs: number;
  /** Period of each switch's and encryptor's own check between full verifies (varied by `jitter` too). */
  deviceIntervalMs: number;
  /** Share of the interval by which each period varies, either way (0.1: ±10 %). */
  jitter: number;
  /** Repair attempts per run (the first included). */
  maxAttempts: number;
  /** Backoff before the second attempt; doubles each time. */
  backoffMs: number;
  /** The global breaker opens when more than this share of the known pairs is broken at once. */
  breakerShare: number;
  flapLimit: number;
  flapWindowMs: number;
  /** How long a breaker stays open before serve tries again. */
  breakerCooldownMs: number;
  standbyPollMs: number;
  heartbeatMs: number;
  concurrency: number;
  reconnectMaxMs: number;
  /** Watch VICI event streams (off: periodic verify only). */
  watch: boolean;
  /** --auto-apply: apply a pending plan, re-apply drift, rotate keys past their policy's age (auto-apply.ts). */
  autoApply: boolean;
  /** After an auto-apply action failed (or a drift check found nothing to change), how long before trying it again. */
  autoApplyCooldownMs: number;
  /** Test only (docs/serve.md): a pause between journaling a repair and acting, so a test can kill the leader in it. */
  testRepairDelayMs?: number;
}

export const DEFAULT_SERVE_OPTIONS: ServeOptions = {
  verifyIntervalMs: 60_000,
  deviceIntervalMs: 300_000,
  jitter: 0.1,
  maxAttempts: 3,
  backoffMs: 2_000,
  breakerShare: 0.5,
  flapLimit: 3,
  flapWindowMs: 300_000,
  breakerCooldownMs: 600_000,
  standbyPollMs: 1_000,
  heartbeatMs: 3_000,
  concurrency: 4,
  reconnectMaxMs: 30_000,
  watch: true,
  autoApply: false,
  autoApplyCooldownMs: 600_000,
};

export const WATCHED_EVENTS = ["ike-updown", "child-updown", "child-rekey"] as const;
/** Pair states serve repairs; others (idle, duplicate, no-kernel-sa, cleartext-possible, unknown) are reported only. */
const REPAIRABLE = new Set(["half", "down", "stuck"]);

export function pairStatus(f: PairFinding): VerifyStatus {
  return f.status === "up" || f.status === "idle"
    ? "secured"
    : f.status === "down" || f.status === "cleartext-possible"
      ? "unsecured"
      : f.status === "unknown"
        ? "unknown"
        : "degraded";
}

/**
 * One pair's state: each host lists only its IKE_SA with the other (list-sas filtered by name), so a check costs the
 * same on a host with 3 peers as on one with 999.
 */
export async function defaultCheckPair(mesh: MeshPlan, a: string, b: string, hosts: readonly HostAccess[]): Promise<PairCheck> {
  const tables: HostSaTable[] = [];
  const errors: { host: string; error: string }[] = [];
  await Promise.all(
    [
      [a, b],
      [b, a],
    ].map(async ([self, peer]) => {
      const h = hosts.find((x) => x.name === self);
      if (!h) return void errors.push({ host: self!, error: "not a reachable mesh host" });
      try {
        const v = await h.vici();
        try {
          const { events } = await v.stream("list-sas", "list-sa", { noblock: "yes", ike: connName(peer!) });
          tables.push(saTableFromVici(self!, events));
        } finally {
          v.close();
        }
      } catch (e) {
        errors.push({ host: self!, error: (e as Error).message });
      }
    }),
  );
  if (errors.length)
    return {
      finding: { a, b, status: "unknown", severity: "warning", detail: errors.map((e) => `${e.host}: ${e.error}`).join("; ") },
      unreachable: errors.map((e) => e.host),
    };
  return { finding: checkPairs([[a, b]], tables, { idleAfterS: mesh.ike.dpdSeconds * 10 })[0]!, unreachable: [] };
}

async function defaultRepair(pair: { a: string; b: string }, hosts: readonly HostAccess[]): Promise<{ ok: boolean; detail: string }> {
  const [r] = await repairPairs([pair], hosts);
  return r ?? { ok: false, detail: "nothing repaired" };
}

export interface PairState {
  mesh: string;
  a: string;
  b: string;
  status: VerifyStatus;
  finding: string;
  detail: string;
  at: number;
}

export interface BreakerState {
  scope: "global" | "host";
  host?: string;
  since: number;
  until: number;
  reason: string;
}

export interface Snapshot {
  role: "leader" | "standby" | "stopped";
  ready: boolean;
  startedAt: number;
  plan: Plan | undefined;
  /** The last full verify with every pair checked since patched in: the `verify --json` schema. */
  status: VerifyReport | undefined;
  lastVerifyAt: number | undefined;
  breakers: BreakerState[];
  counters: {
    repairs: Record<string, number>;
    failures: Record<string, number>;
    breakerTrips: Record<string, number>;
    events: Record<string, number>;
    reconnects: number;
    /** Periodic device checks by result (ok, failed). */
    deviceChecks: Record<string, number>;
    /** --auto-apply actions by kind and result ("plan-pending|done", "drift|failed", "rotate|done", …). */
    autoActions: Record<string, number>;
  };
  autoApply: boolean;
  /** Each switch's and encryptor's last periodic check: whether it answered, when, and when it last answered. */
  devices: { name: string; kind: DeviceTarget["kind"]; ok: boolean; at: number; error?: string }[];
  /** Last successful check per kind and name (ms since the epoch). */
  lastOk: { kind: "link" | "pair" | "device"; name: string; at: number }[];
  watching: { host: string; connected: boolean }[];
  leaderHolder?: string;
  /** Creation times, so each scrape reports the age at that moment. */
  keyAges: KeyStamp[];
  /** The inventory changed on disk since it was loaded: a new plan waits (serve never applies it; SIGHUP loads it). */
  planPending?: string;
}

const pairKey = (mesh: string, a: string, b: string) => `${mesh}:${a < b ? a : b}~${a < b ? b : a}`;

export class Reconciler {
  private readonly o: ServeOptions;
  private readonly clock: Clock;
  private target: ServeTarget | undefined;
  private role: Snapshot["role"] = "standby";
  private readonly stopCtl = new AbortController();
  private wakeCtl = new AbortController();
  private epoch = 0;
  private readonly startedAt: number;
  private lastVerify: VerifyReport | undefined;
  /** Pairs the last full verify reported (lean sweeps included). */
  private knownPairs = 0;
  private lastVerifyAt: number | undefined;
  private nextVerifyAt = 0;
  private verifying = false;
  private readonly pairs = new Map<string, PairState>();
  private readonly lastOk = new Map<string, { kind: "link" | "pair" | "device"; name: string; at: number }>();
  private readonly queue: { key: string; reason: string; cid: string }[] = [];
  private readonly queued = new Set<string>();
  private readonly inFlight = new Set<string>();
  private readonly again = new Map<string, string>();
  private readonly workers = new Set<Promise<void>>();
  private readonly watchers = new Map<string, ViciClient>();
  private readonly connected = new Map<string, boolean>();
  private readonly flaps = new Map<string, number[]>();
  private readonly hostBreakers = new Map<string, BreakerState>();
  private globalBreaker: BreakerState | undefined;
  private keyAges: Snapshot["keyAges"] = [];
  private planPending: string | undefined;
  private readonly counters: Snapshot["counters"] = {
    repairs: {},
    failures: {},
    breakerTrips: {},
    events: {},
    reconnects: 0,
    deviceChecks: {},
    autoActions: {},
  };
  /** The --auto-apply pass in flight (one at a time), and per action when it may be tried again. */
  private autoWork: Promise<void> | undefined;
  private readonly autoCooldown = new Map<string, number>();
  private readonly limiter: DeviceScheduler;
  /** When each device's next periodic check is due (ms), its check in flight, and its last result. */
  private readonly deviceDue = new Map<string, number>();
  private readonly deviceWork = new Set<Promise<void>>();
  private readonly deviceChecking = new Set<string>();
  private readonly deviceReads = new Map<string, { at: number; ok: boolean; ports: DeviceCheck; error?: string }>();
  /** Times (ms) a down event was seen, per pair, for the reaction figures. */
  readonly reactions: { pair: string; eventAt: number; actedAt: number }[] = [];
  private readonly downSeenAt = new Map<string, number>();

  constructor(
    private readonly deps: ServeDeps,
    o: Partial<ServeOptions> = {},
  ) {
    this.o = { ...DEFAULT_SERVE_OPTIONS, ...o };
    // Every watcher's backoff sleep listens on the stop signal: one per host, so no listener limit.
    setMaxListeners(0, this.stopCtl.signal);
    this.clock = deps.clock ?? realClock;
    this.startedAt = this.clock.now();
    this.limiter = deps.limiter ?? new DeviceLimiter({ globalConcurrency: this.o.concurrency, perDeviceConcurrency: 1 });
  }

  private get stopping(): boolean {
    return this.stopCtl.signal.aborted;
  }

  private inc(map: Record<string, number>, k: string, n = 1): void {
    map[k] = (map[k] ?? 0) + n;
  }

  private async record(run: string, step: string, target: string, state: JournalEntry["state"], detail: string): Promise<void> {
    try {
      await this.deps.journal.append({ at: new Date(this.clock.now()).toISOString(), run, step, target, state, detail });
    } catch (e) {
      this.inc(this.counters.failures, "journal");
      this.deps.log.log("error", "journal write failed", { cid: run, step, target, error: (e as Error).message });
      throw e;
    }
  }

  private wake(): void {
    this.wakeCtl.abort();
  }

  /** Runs until stop(): leads when it can, stands by otherwise. */
  async run(): Promise<void> {
    this.target = await this.deps.load();
    this.deps.log.log("info", "serve started", {
      inventory: this.target.plan.inventory,
      meshes: this.target.meshes.map((m) => m.mesh.name),
      links: this.target.plan.links.length,
    });
    let nextBeat = 0;
    while (!this.stopping) {
      if (this.role !== "leader") {
        let got = false;
        try {
          got = await this.deps.leadership.tryAcquire();
        } catch (e) {
          this.deps.log.log("warn", "cannot reach the state store to take the lead", { error: (e as Error).message });
        }
        if (got && !this.stopping) await this.becomeLeader();
        else await this.clock.sleep(this.o.standbyPollMs, this.stopCtl.signal);
        continue;
      }
      const now = this.clock.now();
      if (now >= nextBeat) {
        nextBeat = now + this.o.heartbeatMs;
        if (!(await this.deps.leadership.check())) {
          await this.stepDown("lost the lead (state store session or lease lost)");
          continue;
        }
      }
      if (now >= this.nextVerifyAt) await this.fullVerify();
      this.startDueDeviceChecks();
      for (const [host, b] of this.hostBreakers) if (this.clock.now() >= b.until) await this.closeBreaker(host, b);
      if (this.globalBreaker && this.clock.now() >= this.globalBreaker.until && this.brokenShare().share <= this.o.breakerShare)
        await this.closeBreaker(undefined, this.globalBreaker);
      const wait = Math.max(0, Math.min(this.nextVerifyAt, nextBeat, ...this.deviceDue.values()) - this.clock.now());
      // stop() aborts the wake signal too; one controller per wake, no composite signal kept per loop.
      if (this.wakeCtl.signal.aborted) this.wakeCtl = new AbortController();
      if (!this.stopping) await this.clock.sleep(wait, this.wakeCtl.signal);
    }
    await this.shutdown();
  }

  /** SIGTERM: no new repair starts, the one in flight finishes (or its run is closed as failed), the lead is released. */
  stop(): void {
    this.stopCtl.abort();
    this.wake();
  }

  /** A full verify as soon as the loop is free (the bench's sweeps; events that may have been missed do the same). */
  verifyNow(): void {
    this.nextVerifyAt = this.clock.now();
    this.wake();
  }

  /** SIGHUP: load the inventory and profiles again, re-plan, and watch the hosts of the new plan. */
  async reload(): Promise<void> {
    const cid = newCid();
    try {
      const t = await this.deps.load();
      const old = this.target;
      this.target = t;
      this.epoch++;
      this.closeWatchers();
      this.deviceDue.clear();
      await old?.close?.().catch(() => undefined);
      this.deps.log.log("info", "reloaded the inventory", { cid, inventory: t.plan.inventory, digest: t.plan.inputs.inventoryDigest });
      if (this.role === "leader") {
        await this.record(
          cid,
          "serve-reload",
          t.plan.inventory,
          "done",
          `SIGHUP: inventory and profiles reloaded (digest ${t.plan.inputs.inventoryDigest.slice(0, 12)})`,
        ).catch(() => undefined);
        this.startWatchers();
        this.nextVerifyAt = this.clock.now();
        this.wake();
      }
    } catch (e) {
      this.deps.log.log("error", "reload failed; keeping the inventory loaded before", { cid, error: (e as Error).message });
    }
  }

  private async becomeLeader(): Promise<void> {
    const cid = newCid();
    this.role = "leader";
    this.deps.log.log("info", "leading", { cid });
    await this.record(cid, "serve-lead", this.target!.plan.inventory, "done", "took the lead (advisory lock or lease)").catch(
      () => undefined,
    );
    await this.recoverFromJournal();
    this.startWatchers();
    this.nextVerifyAt = this.clock.now();
  }

  private async stepDown(reason: string): Promise<void> {
    this.deps.log.log("warn", "standing by", { reason });
    this.role = "standby";
    this.epoch++;
    this.closeWatchers();
    this.queue.length = 0;
    this.queued.clear();
    this.deviceDue.clear();
    await Promise.allSettled([...this.workers, ...this.deviceWork, ...(this.autoWork ? [this.autoWork] : [])]);
    await this.deps.leadership.release().catch(() => undefined);
  }

  private async shutdown(): Promise<void> {
    const wasLeader = this.role === "leader";
    this.role = "stopped";
    this.epoch++;
    this.queue.length = 0;
    this.queued.clear();
    this.deviceDue.clear();
    await Promise.allSettled([...this.workers, ...this.deviceWork, ...(this.autoWork ? [this.autoWork] : [])]);
    this.closeWatchers();
    if (wasLeader)
      await this.record(
        newCid(),
        "serve-stop",
        this.target?.plan.inventory ?? "",
        "done",
        "SIGTERM: stopped cleanly; no repair left in flight",
      ).catch(() => undefined);
    await this.deps.leadership.release().catch(() => undefined);
    await this.target?.close?.().catch(() => undefined);
    this.deps.log.log("info", "serve stopped");
  }

  /** A repair the journal shows started and never ended: finished (or closed) by this leader, never done twice. */
  private async recoverFromJournal(): Promise<void> {
    let entries: JournalEntry[];
    try {
      entries = await this.deps.journal.journal();
    } catch (e) {
      this.deps.log.log("error", "cannot read the journal to recover", { error: (e as Error).message });
      return;
    }
    const open = new Map<string, JournalEntry>();
    const openAuto = new Map<string, JournalEntry>();
    for (const e of entries) {
      const m = e.step === "serve-repair" ? open : e.step === "serve-auto-apply" || e.step === "serve-rotate" ? openAuto : undefined;
      if (!m) continue;
      if (e.state === "started") m.set(e.run, e);
      else m.delete(e.run);
    }
    // An auto-apply or rotation the previous leader started and never closed: apply's and rotate's own journal and
    // recovery (the next apply cancels an unconfirmed commit) settle the devices; this run is closed here, and the
    // next verify decides afresh whether anything is still to do, so nothing is done twice.
    for (const [run, e] of openAuto)
      await this.record(
        run,
        e.step,
        e.target,
        "failed",
        "taken over from the previous leader, which stopped during it; the next verify re-evaluates (apply converges: an applied link is left unchanged)",
      ).catch(() => undefined);
    for (const [run, e] of open) {
      const m = /^(.*):([^:~]+)~([^:~]+)$/.exec(e.target);
      const mesh = m && this.target!.meshes.find((x) => x.mesh.name === m[1]);
      if (!m || !mesh) {
        await this.record(
          run,
          "serve-repair",
          e.target,
          "failed",
          "taken over from the previous leader: the pair is no longer in the plan; nothing done",
        ).catch(() => undefined);
        continue;
      }
      this.deps.log.log("info", "finishing the previous leader's repair from the journal", { cid: run, pair: e.target });
      await this.repairRun(
        mesh.mesh,
        mesh.hosts,
        m[2]!,
        m[3]!,
        `taken over from the previous leader (${e.detail ?? "no reason recorded"})`,
        run,
        true,
      );
    }
  }

  private startWatchers(): void {
    if (!this.o.watch || !this.target) return;
    const epoch = this.epoch;
    for (const { mesh, hosts } of this.target.meshes) for (const h of hosts) void this.watch(mesh.name, h, epoch);
  }

  private closeWatchers(): void {
    for (const v of this.watchers.values()) v.close();
    this.watchers.clear();
    this.connected.clear();
  }

  private live(epoch: number): boolean {
    return epoch === this.epoch && this.role === "leader" && !this.stopping;
  }

  private async watch(mesh: string, h: HostAccess, epoch: number): Promise<void> {
    let attempt = 0;
    let first = true;
    while (this.live(epoch)) {
      try {
        const v = await h.vici();
        if (!this.live(epoch)) {
          v.close();
          return;
        }
        this.watchers.set(h.name, v);
        await v.listen(WATCHED_EVENTS, (ev, msg) => this.onEvent(mesh, h.name, ev, msg));
        this.connected.set(h.name, true);
        if (!first) {
          this.counters.reconnects++;
          this.deps.log.log("info", "watching again", { host: h.name });
          // Events may have been missed while the stream was down: check everything soon.
          this.nextVerifyAt = Math.min(this.nextVerifyAt, this.clock.now() + 1000);
          this.wake();
        }
        first = false;
        const since = this.clock.now();
        const why = await v.closed;
        this.connected.set(h.name, false);
        if (this.watchers.get(h.name) === v) this.watchers.delete(h.name);
        if (!this.live(epoch)) return;
        this.deps.log.log("warn", "VICI event stream lost", { host: h.name, error: why.message });
        this.inc(this.counters.failures, "watch");
        await this.noteFlap(h.name, `its VICI event stream dropped (${why.message})`);
        if (this.clock.now() - since > 60_000) attempt = 0;
        this.nextVerifyAt = Math.min(this.nextVerifyAt, this.clock.now() + 1000);
        this.wake();
      } catch (e) {
        this.connected.set(h.name, false);
        if (first || attempt === 0) this.deps.log.log("warn", "cannot watch host", { host: h.name, error: (e as Error).message });
        first = false;
      }
      const backoff = Math.min(this.o.reconnectMaxMs, 500 * 2 ** attempt) * (0.5 + this.clock.random() / 2);
      attempt = Math.min(attempt + 1, 16);
      await this.clock.sleep(backoff, this.stopCtl.signal);
    }
  }

  private onEvent(mesh: string, host: string, ev: string, msg: ViciMessage): void {
    this.inc(this.counters.events, ev);
    if (ev === "child-rekey") return;
    const up = msg.up === "yes";
    for (const [name, sa] of Object.entries(msg)) {
      if (typeof sa !== "object" || Array.isArray(sa) || !name.startsWith("mesh-")) continue;
      const peer = name.slice("mesh-".length);
      const key = pairKey(mesh, host, peer);
      if (up || !this.pairKnown(mesh, host, peer)) continue;
      if (!this.downSeenAt.has(key)) this.downSeenAt.set(key, this.clock.now());
      const cid = newCid();
      this.deps.log.log("info", "down event", { cid, host, event: ev, pair: key });
      this.enqueue(key, `${ev} (down) on ${host}`, cid);
    }
  }

  private pairKnown(mesh: string, a: string, b: string): boolean {
    const m = this.target?.meshes.find((x) => x.mesh.name === mesh);
    return !!m && m.mesh.members.some((x) => x.name === a) && m.mesh.members.some((x) => x.name === b) && a !== b;
  }

  private enqueue(key: string, reason: string, cid: string): void {
    if (this.stopping || this.role !== "leader") return;
    if (this.inFlight.has(key)) {
      this.again.set(key, reason);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push({ key, reason, cid });
    this.pump();
  }

  private pump(): void {
    while (this.workers.size < this.o.concurrency && this.queue.length && !this.stopping) {
      const job = this.queue.shift()!;
      this.queued.delete(job.key);
      this.inFlight.add(job.key);
      const p = this.checkAndRepair(job.key, job.reason, job.cid)
        .catch((e: Error) => this.deps.log.log("error", "pair check failed", { cid: job.cid, pair: job.key, error: e.message }))
        .finally(() => {
          this.inFlight.delete(job.key);
          this.workers.delete(p);
          const again = this.again.get(job.key);
          this.again.delete(job.key);
          if (again !== undefined) this.enqueue(job.key, again, newCid());
          this.pump();
        });
      this.workers.add(p);
    }
  }

  private meshOf(key: string): { mesh: MeshPlan; hosts: HostAccess[]; a: string; b: string } | undefined {
    const m = /^(.*):([^:~]+)~([^:~]+)$/.exec(key);
    const t = m && this.target?.meshes.find((x) => x.mesh.name === m[1]);
    return t ? { ...t, a: m[2]!, b: m[3]! } : undefined;
  }

  private async check(mesh: MeshPlan, hosts: readonly HostAccess[], a: string, b: string): Promise<PairCheck> {
    const r = await (this.deps.checkPair ?? defaultCheckPair)(mesh, a, b, hosts);
    const key = pairKey(mesh.name, a, b);
    const status = pairStatus(r.finding);
    const now = this.clock.now();
    this.pairs.set(key, { mesh: mesh.name, a, b, status, finding: r.finding.status, detail: r.finding.detail, at: now });
    if (status === "secured") {
      this.lastOk.set(`pair|${key}`, { kind: "pair", name: key, at: now });
      this.downSeenAt.delete(key);
    }
    return r;
  }

  private async checkAndRepair(key: string, reason: string, cid: string): Promise<void> {
    const t = this.meshOf(key);
    if (!t) return;
    const r = await this.check(t.mesh, t.hosts, t.a, t.b);
    if (!REPAIRABLE.has(r.finding.status)) return;
    await this.evaluateGlobalBreaker();
    if (this.globalBreaker) {
      this.deps.log.log("warn", "not repairing: the circuit breaker is open", { cid, pair: key, breaker: this.globalBreaker.reason });
      return;
    }
    const blocked = [t.a, t.b].find((h) => this.hostBreakers.has(h));
    if (blocked) {
      this.deps.log.log("warn", "not repairing: the host's circuit breaker is open", { cid, pair: key, host: blocked });
      return;
    }
    await this.repairRun(t.mesh, t.hosts, t.a, t.b, `${reason}; pair ${r.finding.status}: ${r.finding.detail}`, cid, false);
  }

  /** One journal run: started (unless resumed), attempts with backoff, then done or failed. */
  private async repairRun(
    mesh: MeshPlan,
    hosts: readonly HostAccess[],
    a: string,
    b: string,
    reason: string,
    run: string,
    resumed: boolean,
  ): Promise<void> {
    const key = pairKey(mesh.name, a, b);
    const target = key;
    if (resumed) {
      const c = await this.check(mesh, hosts, a, b);
      if (!REPAIRABLE.has(c.finding.status)) {
        this.inc(this.counters.repairs, "found-up");
        this.deps.log.log("info", "the previous leader's repair had taken effect", { cid: run, pair: key, status: c.finding.status });
        await this.record(
          run,
          "serve-repair",
          target,
          "done",
          `${reason}; taken over: the pair was found ${c.finding.status} after the takeover, so it was not repaired again`,
        );
        return;
      }
    } else {
      await this.record(run, "serve-repair", target, "started", reason);
      this.deps.log.log("info", "repairing", { cid: run, pair: key, reason });
    }
    const seen = this.downSeenAt.get(key);
    if (this.o.testRepairDelayMs) await this.clock.sleep(this.o.testRepairDelayMs);
    let last = "";
    let lastError = "";
    let unreachable: string[] = [];
    for (let attempt = 1; attempt <= this.o.maxAttempts; attempt++) {
      if (attempt > 1 && this.stopping) {
        last = `${last}; stopped (SIGTERM) before attempt ${attempt}`;
        break;
      }
      if (attempt === 1 && seen !== undefined) this.reactions.push({ pair: key, eventAt: seen, actedAt: this.clock.now() });
      const r = await (this.deps.repair ?? defaultRepair)({ a, b }, hosts).catch((e: Error) => ({ ok: false, detail: e.message }));
      const c = await this.check(mesh, hosts, a, b);
      unreachable = c.unreachable;
      lastError = r.ok ? "" : r.detail;
      if (pairStatus(c.finding) === "secured") {
        this.inc(this.counters.repairs, "repaired");
        this.deps.log.log("info", "repaired", { cid: run, pair: key, attempt });
        await this.record(
          run,
          "serve-repair",
          target,
          "done",
          `${resumed ? "taken over from the previous leader and finished: " : ""}${r.detail}; pair ${c.finding.status} after attempt ${attempt} of ${this.o.maxAttempts}`,
        );
        return;
      }
      last = `attempt ${attempt}: ${r.ok ? r.detail : `failed: ${r.detail}`}; pair still ${c.finding.status}: ${c.finding.detail}`;
      this.deps.log.log("warn", "repair attempt did not bring the pair up", { cid: run, pair: key, attempt, detail: last });
      if (attempt < this.o.maxAttempts && !this.stopping)
        await this.clock.sleep(this.o.backoffMs * 2 ** (attempt - 1) * (0.75 + this.clock.random() / 2), this.stopCtl.signal);
    }
    this.inc(this.counters.repairs, "failed");
    this.inc(this.counters.failures, "repair");
    await this.record(run, "serve-repair", target, "failed", `${resumed ? "taken over from the previous leader: " : ""}${last}`);
    // Blame the host that could not be read, else the one charon's error names (`h1: initiate failed: …`), else both.
    const named = [a, b].filter((h) => lastError.startsWith(`${h}: `));
    for (const h of unreachable.length ? unreachable : named.length ? named : [a, b]) await this.noteFlap(h, `repair of ${key} failed`);
  }

  private cooling(key: string): boolean {
    return (this.autoCooldown.get(key) ?? 0) > this.clock.now();
  }

  /** One --auto-apply action: a journal run (started, then done or failed, with its reason), its cid the run ID. */
  private async autoRun(
    kind: string,
    target: string,
    reason: string,
    act: (cid: string) => Promise<{ ok: boolean; detail: string }>,
  ): Promise<boolean> {
    const cid = newCid();
    const step = kind === "rotate" ? "serve-rotate" : "serve-auto-apply";
    await this.record(cid, step, target, "started", reason);
    this.deps.log.log("info", `auto-apply: ${kind}`, { cid, target, reason });
    const r = await act(cid).catch((e: Error) => ({ ok: false, detail: e.message }));
    this.inc(this.counters.autoActions, `${kind}|${r.ok ? "done" : "failed"}`);
    // A failed action waits out the cool-down; so does a rotation that worked (its key's new time shows at the next
    // read; the cool-down keeps a store that lags from rotating it twice).
    if (!r.ok || kind === "rotate") this.autoCooldown.set(`${kind}|${target}`, this.clock.now() + this.o.autoApplyCooldownMs);
    if (!r.ok) this.inc(this.counters.failures, "auto-apply");
    this.deps.log.log(r.ok ? "info" : "error", `auto-apply: ${kind} ${r.ok ? "done" : "failed"}`, { cid, target, detail: r.detail });
    await this.record(cid, step, target, r.ok ? "done" : "failed", `${reason}; ${r.detail}`);
    return r.ok;
  }

  private static summary(o: { code: number; run?: string; results: { target: string; outcome: string }[]; error?: string }): string {
    const by = (x: string) => o.results.filter((r) => r.outcome === x).map((r) => r.target);
    return `apply run ${o.run ?? "(none)"} exit ${o.code}: changed [${by("changed").join(", ")}], failed [${by("failed").join(", ")}]${o.error ? `; ${o.error}` : ""}`;
  }

  /**
   * --auto-apply, after a full verify, one pass at a time and never while the global breaker is open: a pending plan
   * is applied (then loaded, as on SIGHUP); otherwise a link not found secured gets a dry run, and is re-applied when
   * the dry run shows its configuration differs from the plan; then keys past their policy's age are rotated.
   */
  private async autoAct(t: ServeTarget, r: VerifyReport): Promise<void> {
    const domain = this.deps.autoApply!;
    const epoch = this.epoch;
    const go = () => this.live(epoch) && !this.globalBreaker;
    if (!go()) return;
    if (this.planPending) {
      if (this.cooling(`plan-pending|${t.plan.inventory}`)) return;
      const fresh = t.pendingPlan?.();
      const changes = fresh ? pendingChanges(t.plan, fresh) : [];
      const ok = await this.autoRun(
        "plan-pending",
        t.plan.inventory,
        `plan pending: ${this.planPending}${changes.length ? `; the plan changes ${changes.join(", ")}` : "; no planned decision changes"}`,
        async () => {
          const a = await domain.apply({ dryRun: false });
          return { ok: a.code === 0 || a.code === 2, detail: Reconciler.summary(a) };
        },
      );
      // Serve now runs with the plan it applied (as on SIGHUP).
      if (ok && this.live(epoch)) await this.reload();
      return;
    }
    const drift = suspectedDrift(t.plan, r).filter((d) => !this.cooling(`drift|${d.link}`));
    if (drift.length && go()) {
      const dry = await domain.apply({ dryRun: true });
      const planned = new Set(dry.results.filter((x) => x.outcome === "planned" || x.outcome === "changed").map((x) => x.target));
      const drifted = drift.filter((d) => planned.has(d.link));
      for (const d of drift.filter((x) => !planned.has(x.link))) {
        // Not secured, but its configuration is what the plan says (or the dry run failed): nothing to re-apply.
        this.autoCooldown.set(`drift|${d.link}`, this.clock.now() + this.o.autoApplyCooldownMs);
        this.deps.log.log("info", "auto-apply: link not secured, but its configuration matches the plan; not re-applied", {
          link: d.link,
          status: d.status,
          ...(dry.error ? { error: dry.error } : {}),
        });
      }
      if (drifted.length && go()) {
        const ok = await this.autoRun(
          "drift",
          drifted.map((d) => d.link).join(" "),
          `drift: ${drifted.map((d) => `${d.link} ${d.status} (${d.evidence})`).join("; ")}; a dry run of the applied plan shows changes to make on it`,
          async () => {
            const a = await domain.apply({ dryRun: false });
            return { ok: a.code === 0 || a.code === 2, detail: Reconciler.summary(a) };
          },
        );
        if (!ok) for (const d of drifted) this.autoCooldown.set(`drift|${d.link}`, this.clock.now() + this.o.autoApplyCooldownMs);
      }
    }
    if (!t.profiles) return;
    for (const d of dueRotations(t.plan, t.profiles, this.keyAges, this.clock.now())) {
      if (!go() || this.cooling(`rotate|${d.what}:${d.name}`)) continue;
      const ok = await this.autoRun(
        "rotate",
        `${d.what}:${d.name}`,
        `key age ${d.ageDays.toFixed(1)} days is past the policy's maximum of ${d.maxDays} days`,
        () => domain.rotate(d.what, d.name),
      );
      if (ok) this.keyAges = (await t.keyAges?.().catch(() => undefined)) ?? this.keyAges;
    }
  }

  /** A period of `ms` varied by ±jitter (the same rule as the full verify's). */
  private jittered(ms: number): number {
    return ms * (1 + (this.clock.random() * 2 - 1) * this.o.jitter);
  }

  /**
   * Starts every device check that is due, each through the limiter (never two at once on a device). A device's first
   * check is one jittered period after the lead is taken or the inventory reloaded (the full verify covers the start).
   */
  private startDueDeviceChecks(): void {
    const t = this.target;
    if (!t?.checkDevice || !t.devices?.length || this.role !== "leader" || this.stopping) return;
    const now = this.clock.now();
    const epoch = this.epoch;
    for (const d of t.devices) {
      const due = this.deviceDue.get(d.name);
      if (due === undefined) {
        this.deviceDue.set(d.name, now + this.jittered(this.o.deviceIntervalMs));
        continue;
      }
      if (due > now) continue;
      this.deviceDue.set(d.name, now + this.jittered(this.o.deviceIntervalMs));
      // Still checking since the last period (a slow device): this period's check is skipped, never doubled.
      if (this.deviceChecking.has(d.name)) continue;
      this.deviceChecking.add(d.name);
      const p: Promise<void> = this.limiter
        .schedule(d.name, () => t.checkDevice!(d.name))
        .then(
          (ports) => this.deviceChecked(t, d, epoch, ports),
          (e: Error) => this.deviceChecked(t, d, epoch, undefined, e.message),
        )
        .finally(() => {
          this.deviceChecking.delete(d.name);
          this.deviceWork.delete(p);
        });
      this.deviceWork.add(p);
    }
  }

  private deviceChecked(t: ServeTarget, d: DeviceTarget, epoch: number, ports?: DeviceCheck, error?: string): void {
    if (epoch !== this.epoch) return;
    const now = this.clock.now();
    this.inc(this.counters.deviceChecks, ports ? "ok" : "failed");
    this.deviceReads.set(d.name, { at: now, ok: !!ports, ports: ports ?? [], ...(error ? { error } : {}) });
    if (!ports) {
      this.deps.log.log("warn", "device check failed", { device: d.name, error });
      return;
    }
    this.lastOk.set(`device|${d.name}`, { kind: "device", name: d.name, at: now });
    // A link is checked successfully when each of its ends' last check (within a period) read its port secured.
    const fresh = now - this.o.deviceIntervalMs * (1 + this.o.jitter);
    for (const { link } of d.ends) {
      const ends = (t.devices ?? []).flatMap((x) => x.ends.filter((e) => e.link === link).map((e) => ({ device: x.name, port: e.port })));
      const secured = ends.every((e) => {
        const r = this.deviceReads.get(e.device);
        return !!r && r.ok && r.at >= fresh && r.ports.some((p) => p.port === e.port && p.status === "secured");
      });
      if (secured) this.lastOk.set(`link|${link}`, { kind: "link", name: link, at: now });
    }
  }

  private async noteFlap(host: string, why: string): Promise<void> {
    const now = this.clock.now();
    const list = [...(this.flaps.get(host) ?? []).filter((t) => now - t < this.o.flapWindowMs), now];
    this.flaps.set(host, list);
    if (list.length >= this.o.flapLimit && !this.hostBreakers.has(host)) {
      const b: BreakerState = {
        scope: "host",
        host,
        since: now,
        until: now + this.o.breakerCooldownMs,
        reason: `${host} failed ${list.length} times within ${Math.round(this.o.flapWindowMs / 1000)} s (last: ${why}); not repairing its pairs for ${Math.round(this.o.breakerCooldownMs / 1000)} s`,
      };
      this.hostBreakers.set(host, b);
      this.inc(this.counters.breakerTrips, "host");
      this.deps.log.log("error", "circuit breaker open for a host", { host, reason: b.reason });
      await this.record(newCid(), "serve-breaker", host, "done", `tripped: ${b.reason}`).catch(() => undefined);
    }
  }

  private brokenShare(): { broken: number; total: number; share: number } {
    // A lean sweep's secured pairs are not kept one by one: the count of known pairs comes from the last verify.
    const total = Math.max(this.pairs.size, this.knownPairs);
    const broken = [...this.pairs.values()].filter((p) => REPAIRABLE.has(p.finding)).length;
    return { broken, total, share: total ? broken / total : 0 };
  }

  private async evaluateGlobalBreaker(): Promise<void> {
    const s = this.brokenShare();
    if (this.globalBreaker || s.total < 2 || s.share <= this.o.breakerShare) return;
    const now = this.clock.now();
    this.globalBreaker = {
      scope: "global",
      since: now,
      until: now + this.o.breakerCooldownMs,
      reason: `${s.broken} of ${s.total} pairs broken at once (more than ${Math.round(this.o.breakerShare * 100)} %): not acting, rather than thrash`,
    };
    this.inc(this.counters.breakerTrips, "global");
    this.deps.log.log("error", "circuit breaker open", { reason: this.globalBreaker.reason });
    await this.record(newCid(), "serve-breaker", "*", "done", `tripped: ${this.globalBreaker.reason}`).catch(() => undefined);
  }

  private async closeBreaker(host: string | undefined, b: BreakerState): Promise<void> {
    if (host) {
      this.hostBreakers.delete(host);
      this.flaps.delete(host);
    } else this.globalBreaker = undefined;
    this.deps.log.log("info", "circuit breaker closed", { scope: b.scope, ...(host ? { host } : {}) });
    await this.record(
      newCid(),
      "serve-breaker",
      host ?? "*",
      "done",
      `closed after ${Math.round(this.o.breakerCooldownMs / 1000)} s: acting again`,
    ).catch(() => undefined);
    this.nextVerifyAt = this.clock.now();
  }

  private async fullVerify(): Promise<void> {
    const jitter = 1 + (this.clock.random() * 2 - 1) * this.o.jitter;
    this.nextVerifyAt = this.clock.now() + this.o.verifyIntervalMs * jitter;
    if (this.verifying || !this.target) return;
    this.verifying = true;
    const cid = newCid();
    try {
      const r = await this.target.verify();
      const now = this.clock.now();
      this.keyAges = (await this.target.keyAges?.().catch(() => undefined)) ?? this.keyAges;
      const pending = this.target.planPending?.();
      if (pending && pending !== this.planPending)
        this.deps.log.log("warn", "plan pending: the inventory changed on disk; not applied (SIGHUP reloads it; apply applies it)", {
          cid,
          reason: pending,
        });
      this.planPending = pending;
      this.lastVerify = r;
      this.lastVerifyAt = now;
      for (const e of r.entries) {
        if (e.kind === "link" && e.status === "secured") this.lastOk.set(`link|${e.name}`, { kind: "link", name: e.name, at: now });
        for (const end of e.ends ?? [])
          if (!end.error) this.lastOk.set(`device|${end.device}`, { kind: "device", name: end.device, at: now });
      }
      for (const h of r.hosts ?? []) this.lastOk.set(`device|${h.host}`, { kind: "device", name: h.host, at: now });
      const bad: string[] = [];
      // Lean sweeps (large meshes, sweep.ts) list only the pairs that are not secured: one kept before that is now
      // secured is forgotten rather than kept one by one; its last success is the sweep's time (see snapshot).
      const lean = leanOf(r);
      const leanMeshes = new Set(lean?.map((l) => l.mesh));
      if (lean) for (const [k, p] of this.pairs) if (leanMeshes.has(p.mesh) && p.at <= now) this.pairs.delete(k);
      this.knownPairs = r.entries.filter((e) => e.kind === "pair" && e.name.includes("~")).length;
      // The lean pairs not listed as entries: the secured ones.
      for (const l of lean ?? []) for (const c of l.codes) if (leanSecured(c)) this.knownPairs++;
      for (const e of r.entries) {
        if (e.kind !== "pair") continue;
        const m = /^(.*):([^:~]+)~([^:~]+)$/.exec(e.name);
        if (!m) continue;
        const finding = (e.evidence[0] ?? "").split(":")[0]!;
        this.pairs.set(e.name, { mesh: m[1]!, a: m[2]!, b: m[3]!, status: e.status, finding, detail: e.evidence.join("; "), at: now });
        if (e.status === "secured") this.lastOk.set(`pair|${e.name}`, { kind: "pair", name: e.name, at: now });
        if (REPAIRABLE.has(finding)) bad.push(e.name);
      }
      this.deps.log.log("info", "verified", { cid, entries: r.entries.length, broken: bad.length });
      await this.evaluateGlobalBreaker();
      for (const k of bad) this.enqueue(k, "periodic verify", newCid());
      if (this.o.autoApply && this.deps.autoApply && !this.autoWork && !this.stopping) {
        const target = this.target;
        this.autoWork = this.autoAct(target, r)
          .catch((e: Error) => this.deps.log.log("error", "auto-apply failed", { error: e.message }))
          .finally(() => (this.autoWork = undefined));
      }
    } catch (e) {
      this.inc(this.counters.failures, "verify");
      this.deps.log.log("error", "verify failed", { cid, error: (e as Error).message });
    } finally {
      this.verifying = false;
    }
  }

  /** What the HTTP endpoints show. `status` and `lastOk` are built when read (at 1,000 hosts they are large). */
  snapshot(): Snapshot {
    const self = this;
    const holder = this.deps.leadership.holder?.();
    return {
      role: this.role,
      ready: this.role === "leader" && this.lastVerify !== undefined,
      startedAt: this.startedAt,
      plan: this.target?.plan,
      get status() {
        return self.statusView();
      },
      lastVerifyAt: this.lastVerifyAt,
      breakers: [...(this.globalBreaker ? [this.globalBreaker] : []), ...this.hostBreakers.values()],
      counters: structuredClone(this.counters),
      autoApply: this.o.autoApply,
      devices: (this.target?.devices ?? []).flatMap((d) => {
        const r = this.deviceReads.get(d.name);
        return r ? [{ name: d.name, kind: d.kind, ok: r.ok, at: r.at, ...(r.error ? { error: r.error } : {}) }] : [];
      }),
      get lastOk() {
        return self.lastOkView();
      },
      watching: [...this.connected.entries()].map(([host, connected]) => ({ host, connected })),
      ...(holder ? { leaderHolder: `${holder.owner} (pid ${holder.pid} on ${holder.host}, since ${holder.since})` } : {}),
      keyAges: this.keyAges,
      ...(this.planPending ? { planPending: this.planPending } : {}),
    };
  }

  private lastOkView(): Snapshot["lastOk"] {
    const out = [...this.lastOk.values()];
    const lean = leanOf(this.lastVerify);
    if (lean && this.lastVerifyAt !== undefined)
      for (const l of lean) {
        const n = l.names.length;
        for (let k = 0; k < l.pairs.length; k++) {
          if (!leanSecured(l.codes[k]!)) continue;
          const name = `${l.mesh}:${l.names[Math.floor(l.pairs[k]! / n)]}~${l.names[l.pairs[k]! % n]}`;
          if (!this.lastOk.has(`pair|${name}`)) out.push({ kind: "pair", name, at: this.lastVerifyAt });
        }
      }
    return out;
  }

  private statusView(): VerifyReport | undefined {
    let status = this.lastVerify;
    if (status && leanOf(status)) status = { ...status, entries: fullEntries(status) };
    if (status) {
      // Pairs checked since the last full verify (events, repairs) replace its entries.
      const newer = [...this.pairs.entries()].filter(([, p]) => this.lastVerifyAt === undefined || p.at > this.lastVerifyAt);
      if (newer.length) {
        const byName = new Map(newer);
        status = {
          ...status,
          observedAt: new Date(Math.max(Date.parse(status.observedAt), ...newer.map(([, p]) => p.at))).toISOString(),
          entries: status.entries.map((e) => {
            const p = byName.get(e.name);
            return p && e.kind === "pair"
              ? { ...e, status: p.status, evidence: [`${p.finding}: ${p.detail}`], observedAt: new Date(p.at).toISOString() }
              : e;
          }),
        };
      }
    }
    return status;
  }
}
