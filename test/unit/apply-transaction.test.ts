import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { ConfigChange } from "../../drivers/contract.js";
import { decodeJournal, JournalWriter } from "../../src/apply/journal.js";
import { RotateInterrupted, rotateMacsecLink } from "../../src/apply/rotate.js";
import { runLinkTransaction, type TransactionOptions } from "../../src/apply/transaction.js";
import { openState } from "../../src/state/open.js";
import { fakeClock, memoryJournal, type SimDevice, simDevice, simPlan } from "../sim-driver.js";

const change = (port: string): ConfigChange => ({ kind: "l1", settings: { cipher: `c-${port}`, adminMode: "secure" } });

/** Two simulated ends on one fake clock, and a transaction over them. */
function setup(o: { faults?: [SimDevice["faults"], SimDevice["faults"]]; noCancel?: boolean } = {}) {
  const clock = fakeClock();
  const store = memoryJournal();
  const a = simDevice("sw-a", { now: clock.now, faults: o.faults?.[0] ?? {}, ...(o.noCancel ? { noCancel: true } : {}) });
  const b = simDevice("sw-b", { now: clock.now, faults: o.faults?.[1] ?? {}, ...(o.noCancel ? { noCancel: true } : {}) });
  const journal = new JournalWriter(store, "run-1", clock);
  const tx = {
    target: "l1",
    kind: "macsec" as const,
    ends: [a.driver, b.driver] as [typeof a.driver, typeof b.driver],
    changes: [change("a"), change("b")] as [ConfigChange, ConfigChange],
    ports: ["eth1", "eth1"] as [string, string],
    token: "tok-1",
  };
  const opts = (more: Partial<TransactionOptions> = {}): TransactionOptions => ({
    journal,
    clock,
    confirmTimeoutS: 120,
    securedTimeoutMs: 60_000,
    ...more,
  });
  const steps = () => store.rows.map((r) => `${r.step} ${r.state}`);
  return { clock, store, a, b, tx, opts, steps };
}

describe("apply: the two-ends link transaction (simulated devices, fake clock)", () => {
  it("both ends commit with the token, report secured, and are confirmed; every step is journaled", async () => {
    const s = setup();
    const r = await runLinkTransaction(s.tx, s.opts());
    expect(r.outcome).toBe("changed");
    for (const d of [s.a, s.b]) {
      expect(d.running()).toBe(JSON.stringify(d === s.a ? change("a") : change("b")));
      expect(d.pending()).toBeUndefined();
      expect(d.tokens).toEqual(["tok-1"]);
      expect(d.ops).toContain("confirm");
    }
    expect(s.steps()).toEqual([
      "stage started",
      "stage done",
      "commit started",
      "commit done",
      "verify started",
      "verify done",
      "confirm done",
    ]);
    const commit = decodeJournal(s.store.rows).find((e) => e.step === "commit" && e.state === "started");
    expect(commit).toMatchObject({ token: "tok-1", confirmDeadline: s.clock.now() + 120_000 });
  });

  it("a second run finds both ends as planned and commits nothing", async () => {
    const s = setup();
    await runLinkTransaction(s.tx, s.opts());
    const r = await runLinkTransaction(s.tx, s.opts());
    expect(r.outcome).toBe("unchanged");
    expect(s.a.tokens).toHaveLength(1);
  });

  it("a dry run stages and diffs both ends, then rolls both back: nothing goes live", async () => {
    const s = setup();
    const r = await runLinkTransaction(s.tx, s.opts({ dryRun: true }));
    expect(r).toMatchObject({ outcome: "planned", diff: expect.stringContaining("sw-a:") });
    expect(s.a.running()).toBeUndefined();
    expect(s.b.tokens).toEqual([]);
  });

  it("one end refuses the commit: both ends are rolled back, and the error says which one refused", async () => {
    const s = setup({ faults: [{}, { commit: true }] });
    await expect(runLinkTransaction(s.tx, s.opts())).rejects.toMatchObject({
      code: "E_COMMIT",
      message: expect.stringMatching(/sw-b refused the commit, so sw-a was rolled back too/),
    });
    // sw-a had committed; it is back to what it was, with nothing pending
    expect(s.a.tokens).toEqual(["tok-1"]);
    expect(s.a.running()).toBeUndefined();
    expect(s.a.pending()).toBeUndefined();
    expect(s.b.running()).toBeUndefined();
    expect(s.steps()).toContain("commit rolled-back");
    expect(s.steps()).not.toContain("confirm done");
  });

  it("one end fails to stage: both candidates are dropped and nothing is committed", async () => {
    const s = setup({ faults: [{ stage: true }, {}] });
    await expect(runLinkTransaction(s.tx, s.opts())).rejects.toThrow(/sw-a: simulated stage failure/);
    expect(s.b.ops).toContain("rollback");
    expect([...s.a.tokens, ...s.b.tokens]).toEqual([]);
  });

  it("the link is not secured after the commit: after the timeout (fake clock, no real wait) both ends are rolled back", async () => {
    const s = setup({ faults: [{}, { neverSecured: true }] });
    const t0 = s.clock.now();
    const wall = Date.now();
    await expect(runLinkTransaction(s.tx, s.opts({ securedTimeoutMs: 60_000, securedPollMs: 500 }))).rejects.toMatchObject({
      code: "E_NOT_SECURED",
      message: expect.stringMatching(/sw-b eth1 did not report secured within 60000 ms.*both ends rolled back/),
    });
    expect(s.clock.now() - t0).toBeGreaterThan(60_000);
    expect(s.clock.sleeps.every((ms) => ms === 500)).toBe(true);
    expect(Date.now() - wall).toBeLessThan(5_000);
    for (const d of [s.a, s.b]) {
      expect(d.running()).toBeUndefined();
      expect(d.pending()).toBeUndefined();
      expect(d.ops).not.toContain("confirm");
    }
    expect(s.steps()).toEqual(expect.arrayContaining(["verify rolled-back"]));
  });

  it("an end whose MKA state cannot be read is not waited for, and the evidence says so", async () => {
    const s = setup({ faults: [{}, { neverSecured: true }] });
    const r = await runLinkTransaction({ ...s.tx, observable: [true, false] }, s.opts());
    expect(r.outcome).toBe("changed");
    expect(r.outcome === "changed" && r.evidence[1]).toMatch(/sw-b eth1: secured: not verified/);
    expect(s.clock.sleeps).toEqual([]);
  });

  it("an interrupt between commit and the secured check rolls both ends back", async () => {
    const s = setup();
    const ac = new AbortController();
    const clock = { ...s.clock, sleep: async (ms: number, signal?: AbortSignal) => (ac.abort(), s.clock.sleep(ms, signal)) };
    const r = await runLinkTransaction(s.tx, s.opts({ clock, signal: ac.signal, pauseAfterCommitMs: 10_000 }));
    expect(r).toMatchObject({ outcome: "interrupted", committed: true });
    expect(s.a.running()).toBeUndefined();
    expect(s.b.running()).toBeUndefined();
    expect(s.store.rows.at(-1)).toMatchObject({ step: "verify", state: "rolled-back", detail: expect.stringMatching(/interrupted/) });
  });

  it("--per-device-interval spaces stage, commit and confirm on the fake clock", async () => {
    const s = setup();
    await runLinkTransaction(s.tx, s.opts({ minStepIntervalMs: 400 }));
    expect(s.clock.sleeps).toEqual([400, 400]);
  });
});

describe("rotate: each make-before-break step is one two-ends transaction", () => {
  async function rotateSetup(faults: SimDevice["faults"] = {}) {
    const { plan, inv, profiles, dir } = simPlan(1, { name: "rot" });
    const clock = fakeClock();
    const store = await openState({ state: join(dir, "state.sqlite"), inventory: "rot", secrets: { env: {} } });
    const a = simDevice("a0", { now: clock.now });
    const b = simDevice("b0", { now: clock.now, faults });
    const journal = new JournalWriter(store, "rot-run", clock);
    const run = (signal?: AbortSignal) =>
      rotateMacsecLink(plan, "l0", inv, profiles, {
        access: {
          knownHostsFile: "/dev/null",
          acceptNewHostKey: false,
          secrets: { env: {} },
          connectTimeoutMs: 1000,
          commandTimeoutMs: 1000,
        },
        store,
        journal,
        clock,
        confirmTimeoutS: 60,
        securedTimeoutMs: 10_000,
        ends: () => ({ ends: [a.driver, b.driver], observable: [true, true] }),
        ...(signal ? { signal } : {}),
      });
    return { store, a, b, run, clock };
  }

  it("installs the next key, then retires the old one, each with its own token and a secured check", async () => {
    const s = await rotateSetup();
    const r = await s.run();
    expect(r.oldCkn).not.toBe(r.newCkn);
    expect(s.a.tokens).toEqual(["linkcrypt-rot-run-l0-1", "linkcrypt-rot-run-l0-2"]);
    expect(s.b.tokens).toEqual(s.a.tokens);
    expect(s.a.ops.filter((o) => o === "security").length).toBeGreaterThanOrEqual(2);
    const live = JSON.parse(s.a.running()!);
    expect(live.keychain.ckn).toBe(r.newCkn);
    expect(live.keychain.retireCkns).toEqual([r.oldCkn]);
    const steps = (await s.store.journal()).map((e) => `${e.step} ${e.state}`);
    expect(steps.filter((x) => /^rotate (install-next-key|retire-old-key) /.test(x))).toEqual([
      "rotate install-next-key started",
      "rotate install-next-key done",
      "rotate retire-old-key started",
      "rotate retire-old-key done",
    ]);
    // the transactions' own steps are a rotation's: recovered like apply's, never taken for an apply of the plan
    expect(steps.filter((x) => x === "rotate confirm done")).toHaveLength(2);
    expect(steps.filter((x) => x === "confirm done" || x === "commit started")).toEqual([]);
    await s.store.close();
  });

  it("not secured after the first step's commit: both ends rolled back, the old key stays, E_ROTATE", async () => {
    const s = await rotateSetup({ neverSecured: true });
    await expect(s.run()).rejects.toMatchObject({
      code: "E_ROTATE",
      message: expect.stringMatching(/install-next-key.*did not report secured/),
    });
    for (const d of [s.a, s.b]) {
      expect(d.running()).toBeUndefined();
      expect(d.pending()).toBeUndefined();
    }
    const steps = (await s.store.journal()).map((e) => `${e.step} ${e.state}`);
    expect(steps).toContain("rotate install-next-key failed");
    expect(steps).not.toContain("rotate retire-old-key started");
    await s.store.close();
  });

  it("one end refuses the commit: both ends rolled back", async () => {
    const s = await rotateSetup({ commit: true });
    await expect(s.run()).rejects.toMatchObject({
      code: "E_ROTATE",
      message: expect.stringMatching(/b0 refused the commit, so a0 was rolled back/),
    });
    expect(s.a.running()).toBeUndefined();
    await s.store.close();
  });

  it("an interrupt before a step starts nothing", async () => {
    const s = await rotateSetup();
    const ac = new AbortController();
    ac.abort();
    await expect(s.run(ac.signal)).rejects.toBeInstanceOf(RotateInterrupted);
    expect(s.a.ops).toEqual([]);
    await s.store.close();
  });
});
