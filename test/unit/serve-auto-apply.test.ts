import { describe, expect, it } from "vitest";
import type { KeyStamp } from "../../src/metrics/key-ages.js";
import type { LinkPlan, Plan } from "../../src/planner/plan-types.js";
import type { ApplyOutcome, AutoApplyDomain } from "../../src/serve/auto-apply.js";
import { dueRotations, suspectedDrift } from "../../src/serve/auto-apply.js";
import { Reconciler, type ServeOptions, type ServeTarget } from "../../src/serve/reconciler.js";
import type { JournalEntry } from "../../src/state/store.js";
import type { VerifyReport, VerifyStatus } from "../../src/verify/verify.js";
import { FakeClock } from "./serve-fakes.js";

/** serve --auto-apply against a FAKE apply/rotate domain, a FAKE clock and an in-memory journal. */
const DAY = 86_400_000;
const link = (name: string, method: string, policy = "p1") =>
  ({ name, method, policy, a: "sw1:et-0", b: "sw2:et-0", l1: { encryptors: ["e1", "e2"] } }) as unknown as LinkPlan;
const basePlan = (links: LinkPlan[], digest = "d1") =>
  ({
    inventory: "inv",
    policy: "p1",
    links,
    meshes: [],
    inputs: { inventoryDigest: digest, profilesDigest: "p" },
    generator: "test",
  }) as unknown as Plan;
const profiles = { policies: new Map([["p1", { lifetimes: { maxKeyAgeDays: 90 } }]]) } as never;

class FakeDomain implements AutoApplyDomain {
  calls: string[] = [];
  dry: ApplyOutcome = { code: 0, results: [] };
  real: ApplyOutcome = { code: 2, run: "apply-run-1", results: [] };
  rotateOk = true;
  async apply(o: { dryRun: boolean }): Promise<ApplyOutcome> {
    this.calls.push(o.dryRun ? "dry-run" : "apply");
    return o.dryRun ? this.dry : this.real;
  }
  async rotate(what: "mesh" | "link", name: string): Promise<{ ok: boolean; detail: string }> {
    this.calls.push(`rotate ${what} ${name}`);
    return { ok: this.rotateOk, detail: this.rotateOk ? "rotated (fake)" : "exit 1: fake failure" };
  }
}

function verifyOf(plan: Plan, status: Record<string, VerifyStatus>): VerifyReport {
  return {
    format: "linkcrypt-verify",
    version: 1,
    plan: plan.inputs,
    observedAt: new Date(0).toISOString(),
    entries: plan.links.map((l) => ({
      kind: "link" as const,
      name: l.name,
      method: l.method,
      status: status[l.name] ?? "secured",
      evidence: [`fake: ${status[l.name] ?? "secured"}`],
      observedAt: "x",
    })),
  };
}

function setup(
  o: {
    autoApply?: boolean;
    pending?: boolean;
    status?: Record<string, VerifyStatus>;
    stamps?: KeyStamp[];
    journal?: JournalEntry[];
  } & Partial<ServeOptions> = {},
) {
  const clock = new FakeClock();
  const domain = new FakeDomain();
  const journal: JournalEntry[] = o.journal ?? [];
  const running = basePlan([link("wave", "l1"), link("sw-link", "macsec")]);
  const fresh = basePlan([link("wave", "l1"), link("sw-link", "macsec"), link("new-link", "macsec")], "d2");
  let loads = 0;
  const status = { ...(o.status ?? {}) };
  const target = (n: number): ServeTarget => {
    const plan = n === 0 || !o.pending ? running : fresh;
    const pending = o.pending && n === 0;
    return {
      plan,
      meshes: [],
      profiles,
      verify: async () => verifyOf(plan, status),
      planPending: () => (pending ? "inv.yaml changed (fake)" : undefined),
      pendingPlan: () => (pending ? fresh : undefined),
      keyAges: async () => o.stamps ?? [],
    };
  };
  const rec = new Reconciler(
    {
      load: async () => target(loads++),
      journal: { append: async (e) => void journal.push(e), journal: async () => [...journal] },
      leadership: { tryAcquire: async () => true, check: async () => true, release: async () => undefined },
      log: { log: () => undefined },
      clock,
      autoApply: domain,
    },
    { verifyIntervalMs: 60_000, heartbeatMs: 3_600_000, watch: false, autoApply: o.autoApply ?? true, jitter: 0, ...o },
  );
  const done = rec.run();
  const stop = async () => {
    rec.stop();
    await done;
  };
  return { clock, domain, journal, rec, stop, loads: () => loads, status };
}

const runs = (j: JournalEntry[], step: string) => j.filter((e) => e.step === step);

describe("serve --auto-apply (fake domain, fake clock)", () => {
  it("without --auto-apply a pending plan is only reported", async () => {
    const s = setup({ autoApply: false, pending: true, status: { wave: "unsecured" } });
    await s.clock.advance(0);
    expect(s.rec.snapshot().planPending).toMatch(/changed/);
    await s.clock.advance(120_000);
    expect(s.domain.calls).toEqual([]);
    expect(runs(s.journal, "serve-auto-apply")).toEqual([]);
    await s.stop();
  });

  it("a pending plan is applied once, journaled with its reason and cid, then loaded", async () => {
    const s = setup({ pending: true });
    await s.clock.advance(0);
    expect(s.domain.calls).toEqual(["apply"]);
    const j = runs(s.journal, "serve-auto-apply");
    expect(j.map((e) => e.state)).toEqual(["started", "done"]);
    expect(new Set(j.map((e) => e.run)).size).toBe(1);
    expect(j[0]!.detail).toMatch(/plan pending: inv\.yaml changed \(fake\); the plan changes link new-link/);
    expect(j[1]!.detail).toMatch(/apply run apply-run-1 exit 2/);
    // Loaded as on SIGHUP: the new plan runs, nothing pending, nothing applied again.
    expect(s.loads()).toBe(2);
    expect(runs(s.journal, "serve-reload")).toHaveLength(1);
    await s.clock.advance(180_000);
    expect(s.domain.calls).toEqual(["apply"]);
    expect(s.rec.snapshot().planPending).toBeUndefined();
    expect(s.rec.snapshot().counters.autoActions).toEqual({ "plan-pending|done": 1 });
    await s.stop();
  });

  it("drift: a link not secured whose dry run shows a change is re-applied; one whose configuration matches is left alone", async () => {
    const s = setup({ status: { wave: "unsecured", "sw-link": "degraded" } });
    s.domain.dry = {
      code: 2,
      results: [
        { target: "wave", kind: "l1", outcome: "planned", detail: "diff on e1" },
        { target: "sw-link", kind: "macsec", outcome: "unchanged", detail: "" },
      ],
    };
    await s.clock.advance(0);
    expect(s.domain.calls).toEqual(["dry-run", "apply"]);
    const j = runs(s.journal, "serve-auto-apply");
    expect(j.map((e) => [e.target, e.state])).toEqual([
      ["wave", "started"],
      ["wave", "done"],
    ]);
    expect(j[0]!.detail).toMatch(/^drift: wave unsecured \(fake: unsecured\)/);
    // Re-applied: the next verify finds it secured; sw-link matches the plan and is in its cool-down: no new dry run.
    s.status.wave = "secured";
    await s.clock.advance(60_000);
    expect(s.domain.calls).toEqual(["dry-run", "apply"]);
    // After the cool-down (10 min) sw-link is looked at again.
    await s.clock.advance(600_000);
    expect(s.domain.calls).toEqual(["dry-run", "apply", "dry-run"]);
    await s.stop();
  });

  it("keys past the policy's age are rotated (a journal-only master is not linkcrypt's); a failed rotation waits out its cool-down", async () => {
    const now = new FakeClock().now();
    const s = setup({
      stamps: [
        { key: "m1", kind: "mesh-psk-master", createdAtMs: now - 91 * DAY, source: "state" },
        { key: "m2", kind: "mesh-psk-master", createdAtMs: now - 200 * DAY, source: "journal" },
        { key: "m3", kind: "mesh-psk-master", createdAtMs: now - 10 * DAY, source: "file" },
        { key: "sw-link", kind: "macsec-cak", createdAtMs: now - 95 * DAY, source: "state" },
      ],
    });
    s.domain.rotateOk = false;
    await s.clock.advance(0);
    expect(s.domain.calls).toEqual(["rotate mesh m1", "rotate link sw-link"]);
    const j = runs(s.journal, "serve-rotate");
    expect(j.map((e) => [e.target, e.state])).toEqual([
      ["mesh:m1", "started"],
      ["mesh:m1", "failed"],
      ["link:sw-link", "started"],
      ["link:sw-link", "failed"],
    ]);
    expect(j[0]!.detail).toMatch(/key age 91\.0 days is past the policy's maximum of 90 days/);
    await s.clock.advance(60_000);
    expect(s.domain.calls).toHaveLength(2);
    s.domain.rotateOk = true;
    await s.clock.advance(600_000);
    expect(s.domain.calls.slice(2)).toEqual(["rotate mesh m1", "rotate link sw-link"]);
    expect(s.rec.snapshot().counters.autoActions).toEqual({ "rotate|failed": 2, "rotate|done": 2 });
    await s.stop();
  });

  it("a new leader closes an auto-apply run the previous one left open, without doing it again", async () => {
    const journal: JournalEntry[] = [
      { at: "2026-01-01T00:00:00Z", run: "old", step: "serve-auto-apply", target: "wave", state: "started", detail: "drift: …" },
    ];
    const s = setup({ journal });
    await s.clock.advance(0);
    const j = runs(s.journal, "serve-auto-apply").filter((e) => e.run === "old");
    expect(j.map((e) => e.state)).toEqual(["started", "failed"]);
    expect(j[1]!.detail).toMatch(/taken over from the previous leader/);
    expect(s.domain.calls).toEqual([]);
    await s.stop();
  });
});

describe("auto-apply's pure parts", () => {
  it("suspectedDrift lists only encrypted links that verify did not find secured", () => {
    const p = basePlan([link("wave", "l1"), link("sw-link", "macsec"), link("inet", "host-mesh")]);
    expect(suspectedDrift(p, verifyOf(p, { wave: "degraded", inet: "unsecured" })).map((d) => d.link)).toEqual(["wave"]);
  });
  it("dueRotations compares each key with its own policy", () => {
    const p = basePlan([link("a", "macsec", "p1"), link("b", "macsec", "p2")]);
    const prof = {
      policies: new Map([
        ["p1", { lifetimes: { maxKeyAgeDays: 90 } }],
        ["p2", { lifetimes: { maxKeyAgeDays: 30 } }],
      ]),
    } as never;
    const now = 1000 * DAY;
    const due = dueRotations(
      p,
      prof,
      [
        { key: "a", kind: "macsec-cak", createdAtMs: now - 60 * DAY, source: "state" },
        { key: "b", kind: "macsec-cak", createdAtMs: now - 60 * DAY, source: "state" },
      ],
      now,
    );
    expect(due.map((d) => d.name)).toEqual(["b"]);
  });
});
