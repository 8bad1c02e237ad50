/**
 * A SIMULATED device, in process (a test and benchmark double, not a peer): a driver whose configuration is a value
 * in memory, with a candidate, a confirmed commit that rolls back by itself at its deadline (read from an injected
 * clock), cancel by token, and a link that reports "secured" once a configuration is live. Faults can be switched on
 * per device. Used by the apply unit tests (test/unit/apply-*.test.ts) and the apply benchmark (bench/apply-one.ts).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import type { ConfigChange, Driver, DriverFlags } from "../drivers/contract.js";
import { registerDriver } from "../drivers/registry.js";
import type { Inventory } from "../src/model/inventory-schema.js";
import { parseInventory } from "../src/model/load-inventory.js";
import { loadProfiles } from "../src/model/load-profiles.js";
import { buildPlan } from "../src/planner/build-plan.js";

export interface SimFaults {
  /** loadCandidate throws. */
  stage?: boolean;
  /** commit throws (the device refuses it). */
  commit?: boolean;
  /** The link never reports secured. */
  neverSecured?: boolean;
}

export interface SimOptions {
  /** Port the device reports security for. */
  port?: string;
  /** Each operation takes this long (a round trip), on `sleep`. */
  rttMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** For the confirm deadline; real time by default. */
  now?: () => number;
  /** No cancelPending: a later process can only wait for the device's own rollback. */
  noCancel?: boolean;
  faults?: SimFaults;
  flags?: Partial<DriverFlags>;
}

export interface SimDevice {
  readonly driver: Driver;
  /** The live configuration: the last committed change (JSON), or undefined. */
  running(): string | undefined;
  /** A commit waiting for confirm (with its token), or undefined. */
  pending(): { token: string | undefined; deadline: number } | undefined;
  faults: SimFaults;
  /** Operations performed, in order: "stage", "diff", "commit", "confirm", "rollback", "cancel", "security". */
  readonly ops: string[];
  /** The token of each commit, in order. */
  readonly tokens: (string | undefined)[];
}

export function simDevice(device: string, o: SimOptions = {}): SimDevice {
  const now = o.now ?? Date.now;
  const faults: SimFaults = { ...o.faults };
  const ops: string[] = [];
  const tokens: (string | undefined)[] = [];
  let running: string | undefined;
  let candidate: string | undefined;
  let pending: { token: string | undefined; deadline: number; previous: string | undefined } | undefined;
  const rt = async (op: string) => {
    if (o.rttMs) await (o.sleep ?? ((ms) => new Promise<void>((r) => setTimeout(r, ms))))(o.rttMs);
    // The device's own timer: an unconfirmed commit past its deadline is rolled back.
    if (pending && now() >= pending.deadline) {
      running = pending.previous;
      pending = undefined;
    }
    ops.push(op);
  };
  const driver: Driver = {
    name: "sim-macsec",
    device,
    flags: { writable: true, candidate: true, confirmedCommit: true, rollback: true, verifiedWrites: false, ...o.flags },
    connect: async () => undefined,
    close: async () => undefined,
    facts: async () => ({ device, driver: "sim-macsec", reachable: true, observedAt: "" }),
    linkSecurity: async () => {
      await rt("security");
      const up = running !== undefined && !faults.neverSecured;
      return [{ port: o.port ?? "eth1", status: up ? "secured" : "unsecured", detail: "simulated", observedAt: "" }];
    },
    loadCandidate: async (change: ConfigChange) => {
      await rt("stage");
      if (faults.stage) throw new Error(`${device}: simulated stage failure`);
      candidate = JSON.stringify(change);
    },
    diff: async () => {
      await rt("diff");
      return candidate !== undefined && candidate !== running ? "+ simulated change" : "";
    },
    commit: async ({ confirmTimeoutS, token }) => {
      await rt("commit");
      tokens.push(token);
      if (faults.commit) throw new Error(`${device}: simulated commit refusal`);
      pending = { token, deadline: now() + confirmTimeoutS * 1000, previous: running };
      running = candidate;
      candidate = undefined;
    },
    confirm: async () => {
      await rt("confirm");
      pending = undefined;
    },
    rollback: async () => {
      await rt("rollback");
      if (pending) running = pending.previous;
      pending = undefined;
      candidate = undefined;
    },
    ...(o.noCancel
      ? {}
      : {
          cancelPending: async (token: string) => {
            await rt("cancel");
            if (!pending || pending.token !== token) return false;
            running = pending.previous;
            pending = undefined;
            return true;
          },
        }),
  };
  return {
    driver,
    running: () => {
      if (pending && now() >= pending.deadline) {
        running = pending.previous;
        pending = undefined;
      }
      return running;
    },
    pending: () => (pending ? { token: pending.token, deadline: pending.deadline } : undefined),
    faults,
    ops,
    tokens,
  };
}

/**
 * An inventory of `links` MACsec links between simulated switches (a<i>:eth1 to b<i>:eth1, sites a and b), its
 * profiles and its plan. The profile names the driver "sim-macsec", registered here: a simDevice per device, or what
 * `o.device` makes (a bench with its round trip, a test's own recording double).
 */
export function simPlan(links: number, o: { name?: string; device?: (name: string) => Driver } = {}) {
  registerDriver("sim-macsec", (ctx) => (o.device ? o.device(ctx.device) : simDevice(ctx.device).driver));
  const dir = mkdtempSync(join(tmpdir(), "lc-sim-"));
  writeFileSync(
    join(dir, "sim-switch.yaml"),
    stringify({
      kind: "switch",
      name: "sim-switch",
      vendor: "sim",
      model: "in-process simulator",
      driver: "sim-macsec",
      maxFrame: 9216,
      portGroups: [{ match: "eth*", macsec: { suites: ["GCM-AES-XPN-256"], sci: "always" } }],
    }),
  );
  const { profiles } = loadProfiles([dir]);
  const sw = (name: string, site: string) => ({
    name,
    kind: "switch",
    site,
    profile: "sim-switch",
    management: { address: "sim", transport: "ssh" },
    ports: [{ name: "eth1", speed: "100G", mtu: 9000 }],
  });
  const inv = {
    version: 1,
    name: o.name ?? "sim",
    policy: "default",
    sites: [{ name: "a" }, { name: "b" }],
    devices: Array.from({ length: links }, (_, i) => [sw(`a${i}`, "a"), sw(`b${i}`, "b")]).flat(),
    links: Array.from({ length: links }, (_, i) => ({
      name: `l${i}`,
      a: `a${i}:eth1`,
      b: `b${i}:eth1`,
      medium: "dwdm",
      speed: "100G",
      pathMtu: 9216,
    })),
  };
  const r = parseInventory("sim.yaml", stringify(inv), profiles!);
  if (!r.model) throw new Error(`the simulated inventory does not load: ${JSON.stringify(r.diagnostics)}`);
  const plan = buildPlan(r.model, { inventoryDigest: "sim", profilesDigest: "sim" });
  return { plan, inv: r.data as Inventory, profiles: profiles!, dir };
}

/** A fake clock: `sleep` moves time forward at once (no real waiting) and records each sleep. */
export function fakeClock(start = Date.parse("2026-01-01T00:00:00Z")) {
  let t = start;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number, signal?: AbortSignal) => {
      sleeps.push(ms);
      if (!signal?.aborted) t += Math.max(0, ms);
      await Promise.resolve();
    },
    advance: (ms: number) => void (t += ms),
    sleeps,
  };
}

/** A journal in memory, with the state store's row shape. */
export function memoryJournal() {
  const rows: import("../src/state/store.js").JournalEntry[] = [];
  return {
    rows,
    append: async (e: (typeof rows)[number]) => void rows.push(e),
    journal: async () => [...rows],
  };
}
