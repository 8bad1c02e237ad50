import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { ConfigChange } from "../../drivers/contract.js";
import { applyPlan } from "../../src/apply/apply.js";
import type { EndsFactory } from "../../src/apply/link-ends.js";
import { runApplyRequest } from "../../src/apply/run-apply.js";
import { commitToken, decodeEntry, encodeEntry, JournalWriter } from "../../src/apply/journal.js";
import { pendingCommits, recoverOrphans } from "../../src/apply/recovery.js";
import { runLinkTransaction } from "../../src/apply/transaction.js";
import { openState } from "../../src/state/open.js";
import type { JournalEntry } from "../../src/state/store.js";
import { fakeClock, memoryJournal, simDevice, simPlan } from "../sim-driver.js";

const change: ConfigChange = { kind: "l1", settings: { cipher: "x", adminMode: "secure" } };
const T0 = Date.parse("2026-01-01T00:00:00Z");

/**
 * A run killed between commit and confirm: the transaction's wait after the commit never ends (the process is gone),
 * so the devices are left committed and unconfirmed, and the journal holds the commit with its deadline and token.
 */
async function killedRun(o: { noCancel?: boolean } = {}) {
  const clock = fakeClock(T0);
  const store = memoryJournal();
  const a = simDevice("sw-a", { now: clock.now, ...(o.noCancel ? { noCancel: true } : {}) });
  const b = simDevice("sw-b", { now: clock.now, ...(o.noCancel ? { noCancel: true } : {}) });
  const dead = { ...clock, sleep: () => new Promise<void>(() => undefined) };
  void runLinkTransaction(
    {
      target: "l1",
      kind: "l1",
      ends: [a.driver, b.driver],
      changes: [change, change],
      ports: ["eth1", "eth1"],
      token: commitToken("dead", "l1"),
    },
    { journal: new JournalWriter(store, "dead", dead), clock: dead, confirmTimeoutS: 120, securedTimeoutMs: 1000, pauseAfterCommitMs: 1 },
  );
  for (let i = 0; i < 100 && !store.rows.some((r) => r.step === "verify"); i++) await Promise.resolve();
  expect(store.rows.map((r) => `${r.step} ${r.state}`)).toContain("commit done");
  return { clock, store, a, b };
}

describe("apply: the typed journal", () => {
  it("a commit entry keeps its deadline and token as data, and reads back the same", () => {
    const e = {
      at: T0,
      run: "r1",
      target: "l1",
      step: "commit" as const,
      state: "started" as const,
      confirmDeadline: T0 + 120_000,
      token: "linkcrypt-r1-l1",
    };
    const row = encodeEntry(e);
    expect(row).toMatchObject({ at: "2026-01-01T00:00:00.000Z", step: "commit", state: "started" });
    expect(JSON.parse(row.detail!)).toEqual({ confirmDeadline: "2026-01-01T00:02:00.000Z", token: "linkcrypt-r1-l1" });
    expect(decodeEntry(row)).toEqual(e);
  });

  it("reads an older version's row (`confirm deadline <ISO>`, no token) as the same typed entry, with the token it implied", () => {
    const legacy: JournalEntry = {
      at: "2026-01-01T00:00:00.000Z",
      run: "old-run",
      step: "commit",
      target: "l1",
      state: "started",
      detail: "confirm deadline 2026-01-01T00:02:00.000Z",
    };
    expect(decodeEntry(legacy)).toEqual({
      at: T0,
      run: "old-run",
      target: "l1",
      step: "commit",
      state: "started",
      confirmDeadline: T0 + 120_000,
      token: "linkcrypt-old-run-l1",
    });
  });

  it("a commit row whose deadline cannot be read, and rows of other writers, come back as 'other'", () => {
    const row = (detail: string): JournalEntry => ({
      at: "2026-01-01T00:00:00Z",
      run: "r",
      step: "commit",
      target: "l1",
      state: "started",
      detail,
    });
    expect(decodeEntry(row("confirm deadline soon")).step).toBe("other");
    expect(decodeEntry(row('{"token":"t"}')).step).toBe("other");
    expect(decodeEntry(row("{not json")).step).toBe("other");
    const serve: JournalEntry = { at: "2026-01-01T00:00:00Z", run: "r", step: "serve-repair", target: "m", state: "started" };
    expect(decodeEntry(serve)).toMatchObject({ step: "other", row: serve });
    expect(encodeEntry(decodeEntry(serve))).toEqual(serve);
  });

  it("message entries stay readable text in the store (report shows them)", () => {
    const row = encodeEntry({ at: T0, run: "r", target: "l1", step: "transaction", state: "failed", message: "sw-b refused the commit" });
    expect(row.detail).toBe("sw-b refused the commit");
    expect(decodeEntry(row)).toMatchObject({ step: "transaction", state: "failed", message: "sw-b refused the commit" });
  });
});

describe("apply: pending commits from the journal", () => {
  const rows = (...r: [string, string, string, JournalEntry["state"], string?][]): JournalEntry[] =>
    r.map(([run, step, target, state, detail]) => ({
      at: "2026-01-01T00:00:00Z",
      run,
      step,
      target,
      state,
      ...(detail ? { detail } : {}),
    }));
  const started = (deadline: string) => JSON.stringify({ confirmDeadline: deadline, token: "t" });

  it("a commit started and never closed is pending until its deadline; confirm, rollback or failure close it", () => {
    const j = rows(
      ["r1", "commit", "open", "started", started("2026-01-01T00:02:00Z")],
      ["r1", "commit", "confirmed", "started", started("2026-01-01T00:02:00Z")],
      ["r1", "confirm", "confirmed", "done"],
      ["r1", "commit", "refused", "started", started("2026-01-01T00:02:00Z")],
      ["r1", "commit", "refused", "rolled-back", "sw-b refused"],
      ["r1", "commit", "failed", "started", started("2026-01-01T00:02:00Z")],
      ["r1", "transaction", "failed", "failed", "boom"],
      ["r2", "commit", "expired", "started", started("2025-12-31T23:59:00Z")],
    );
    expect(pendingCommits(j, T0)).toEqual([{ run: "r1", target: "open", token: "t", confirmDeadline: T0 + 120_000 }]);
    expect(pendingCommits(j, T0 + 120_000)).toEqual([]);
  });

  it("a key rotation's commit (stored as `rotate commit`) is pending like apply's, and its confirm closes it", () => {
    const j = rows(["rot", "rotate commit", "l1", "started", started("2026-01-01T00:02:00Z")]);
    expect(decodeEntry(j[0]!)).toMatchObject({ step: "commit", state: "started", scope: "rotate" });
    expect(encodeEntry(decodeEntry(j[0]!)).step).toBe("rotate commit");
    expect(pendingCommits(j, T0)).toMatchObject([{ run: "rot", target: "l1" }]);
    expect(pendingCommits([...j, ...rows(["rot", "rotate confirm", "l1", "done"])], T0)).toEqual([]);
  });

  it("an older version's journal row is still found pending", () => {
    const j = rows(["old", "commit", "l1", "started", "confirm deadline 2026-01-01T00:02:00.000Z"]);
    expect(pendingCommits(j, T0)).toEqual([{ run: "old", target: "l1", token: "linkcrypt-old-l1", confirmDeadline: T0 + 120_000 }]);
  });
});

describe("apply: a killed run is recovered by the next one", () => {
  it("cancels the orphaned commit on both ends by its token, journals it under the dead run, and finds nothing the second time", async () => {
    const { clock, store, a, b } = await killedRun();
    expect(a.pending()?.token).toBe("linkcrypt-dead-l1");
    expect(a.running()).toBeDefined();
    const said: string[] = [];
    const journal = new JournalWriter(store, "next", clock);
    const recover = () =>
      recoverOrphans({ store, journal, clock, endsOf: (t) => (t === "l1" ? [a.driver, b.driver] : undefined), say: (l) => said.push(l) });
    const done = await recover();
    expect(done).toEqual([
      { run: "dead", target: "l1", action: "cancelled", detail: expect.stringMatching(/sw-a cancelled.*sw-b cancelled/) },
    ]);
    for (const d of [a, b]) {
      expect(d.running()).toBeUndefined();
      expect(d.pending()).toBeUndefined();
    }
    expect(said).toEqual([
      expect.stringMatching(
        /^a previous run left l1 committed but unconfirmed: sw-a cancelled \(cancel-commit by persist-id\), sw-b cancelled/,
      ),
    ]);
    expect(store.rows.at(-1)).toMatchObject({
      run: "dead",
      step: "commit",
      state: "rolled-back",
      detail: expect.stringMatching(/^cancelled by run next: /),
    });
    expect(clock.sleeps).toEqual([]);
    expect(await recover()).toEqual([]);
  });

  it("ends without cancel-by-token: waits until the deadline plus the margin on the (fake) clock, after which the devices have rolled back", async () => {
    const { clock, store, a, b } = await killedRun({ noCancel: true });
    clock.advance(20_000); // the next run starts 20 s after the commit
    const said: string[] = [];
    const done = await recoverOrphans({
      store,
      journal: new JournalWriter(store, "next", clock),
      clock,
      endsOf: () => [a.driver, b.driver],
      say: (l) => said.push(l),
    });
    expect(clock.sleeps).toEqual([120_000 - 20_000 + 5_000]);
    expect(said[0]).toMatch(
      /^waiting 105 s: a previous run left l1 committed but unconfirmed; the device rolls it back at 2026-01-01T00:02:00.000Z/,
    );
    expect(done).toMatchObject([{ action: "waited" }]);
    expect(a.running()).toBeUndefined();
    expect(b.running()).toBeUndefined();
  });

  it("a cancel that fails falls back to waiting, and says why", async () => {
    const { clock, store, a, b } = await killedRun();
    const broken = { ...b.driver, cancelPending: async () => Promise.reject(new Error("session refused")) };
    const said: string[] = [];
    const done = await recoverOrphans({
      store,
      journal: new JournalWriter(store, "next", clock),
      clock,
      endsOf: () => [a.driver, broken],
      say: (l) => said.push(l),
    });
    expect(said[0]).toBe("could not cancel l1's unconfirmed commit (session refused); waiting for the devices' own rollback instead");
    expect(done).toMatchObject([{ action: "waited" }]);
    expect(clock.sleeps).toHaveLength(1);
  });

  it("a target that is no longer a link of the plan is waited out, not guessed at", async () => {
    const { clock, store } = await killedRun();
    const done = await recoverOrphans({
      store,
      journal: new JournalWriter(store, "next", clock),
      clock,
      endsOf: () => undefined,
      say: () => undefined,
    });
    expect(done).toMatchObject([{ action: "waited" }]);
  });

  it("an older version's commit row is cancelled by the token that version used", async () => {
    const clock = fakeClock(T0);
    const store = memoryJournal();
    const a = simDevice("sw-a", { now: clock.now });
    const b = simDevice("sw-b", { now: clock.now });
    for (const d of [a, b]) {
      await d.driver.loadCandidate(change);
      await d.driver.commit({ confirmTimeoutS: 120, token: "linkcrypt-old-l1" });
    }
    await store.append({
      at: "2026-01-01T00:00:00.000Z",
      run: "old",
      step: "commit",
      target: "l1",
      state: "started",
      detail: "confirm deadline 2026-01-01T00:02:00.000Z",
    });
    const done = await recoverOrphans({
      store,
      journal: new JournalWriter(store, "next", clock),
      clock,
      endsOf: () => [a.driver, b.driver],
      say: () => undefined,
    });
    expect(done).toMatchObject([{ action: "cancelled" }]);
    expect(a.running()).toBeUndefined();
  });

  it("a run killed after its confirm leaves nothing to recover", async () => {
    const clock = fakeClock(T0);
    const store = memoryJournal();
    const a = simDevice("sw-a", { now: clock.now });
    const b = simDevice("sw-b", { now: clock.now });
    await runLinkTransaction(
      { target: "l1", kind: "l1", ends: [a.driver, b.driver], changes: [change, change], ports: ["eth1", "eth1"], token: "t" },
      { journal: new JournalWriter(store, "done-run", clock), clock, confirmTimeoutS: 120, securedTimeoutMs: 1000 },
    );
    expect(pendingCommits(store.rows, clock.now())).toEqual([]);
    expect(a.running()).toBeDefined();
  });
});

describe("apply: the next run of `apply` recovers a killed one, then converges (domain call, simulated devices)", () => {
  it("cancels the dead run's commit on both ends by token before it changes anything, then applies and confirms", async () => {
    const { plan, inv, profiles, dir } = simPlan(1, { name: "rec" });
    const clock = fakeClock(T0);
    const a = simDevice("a0", { now: clock.now });
    const b = simDevice("b0", { now: clock.now });
    const ends: EndsFactory = () => ({ ends: [a.driver, b.driver], observable: [true, true] });
    const open = () => openState({ state: join(dir, "state.sqlite"), inventory: "rec", secrets: { env: {} } });
    const access = {
      knownHostsFile: "/dev/null",
      acceptNewHostKey: false,
      secrets: { env: {} },
      connectTimeoutMs: 1000,
      commandTimeoutMs: 1000,
    };
    const limits = { globalConcurrency: 2, perDeviceConcurrency: 1 };

    // The first run is killed between commit and confirm: its wait after the commit never ends.
    const first = await open();
    const dead = { ...clock, sleep: () => new Promise<void>(() => undefined) };
    void applyPlan(plan, inv, profiles, {
      access,
      store: first,
      run: "dead-run",
      confirmTimeoutS: 120,
      securedTimeoutMs: 1000,
      dryRun: false,
      maxFailPercent: 0,
      limits,
      clock: dead,
      ends,
      pauseAfterCommitMs: 1,
    });
    for (let i = 0; i < 200 && !(await first.journal()).some((e) => e.step === "verify"); i++) await new Promise((r) => setTimeout(r, 5));
    expect(a.pending()?.token).toBe("linkcrypt-dead-run-l0");
    const killedWith = a.running();

    const said: string[] = [];
    const r = await runApplyRequest({
      planFile: "plan.json",
      saved: JSON.parse(JSON.stringify(plan)),
      fresh: plan,
      inventoryFile: "rec.yaml",
      inv,
      profiles,
      openStore: open,
      access,
      limits,
      dryRun: false,
      confirmTimeoutS: 120,
      securedTimeoutMs: 1000,
      maxFailPercent: 0,
      meshes: async () => () => undefined,
      say: (l) => said.push(l),
      clock,
      ends,
    });
    expect(r.recovered).toMatchObject([{ run: "dead-run", target: "l0", action: "cancelled" }]);
    expect(said).toContainEqual(expect.stringMatching(/^a previous run left l0 committed but unconfirmed: a0 cancelled/));
    // cancelled first (the dead run's commit rolled back), then applied again under the new run and confirmed
    expect(a.ops.indexOf("cancel")).toBeLessThan(a.ops.lastIndexOf("commit"));
    expect(r.results).toMatchObject([{ target: "l0", outcome: "changed" }]);
    expect(a.tokens).toEqual(["linkcrypt-dead-run-l0", `linkcrypt-${r.run}-l0`]);
    expect(a.pending()).toBeUndefined();
    expect(a.running()).toBe(killedWith);
    const store = await open();
    expect(pendingCommits(await store.journal(), clock.now())).toEqual([]);
    await store.close();
    await first.close();
  });
});
