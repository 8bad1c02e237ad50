import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigChange } from "../../drivers/contract.js";
import { UnsupportedError } from "../../src/errors.js";
import { CAK, NEXT_CAK, type Subject } from "./subject.js";

/**
 * The one contract suite, run against every driver: with its real peer ([real]), or from a recording of what the
 * real peer answered ([replay]). The cases are the same code in both modes; a mode only decides where the transports
 * come from (its `Harness`) and whether waiting for a device's timer means sleeping.
 */
export interface CaseEnv {
  name: string;
  /** Waits for a device-side timer: sleeps against a real peer, returns at once in replay (the recording waited). */
  sleep(ms: number): Promise<void>;
}

export interface ContractCase {
  /** The recording's file name: test/fixtures/replay/<driver>/<id>.json. */
  id: string;
  title: string;
  /** Why the case does not apply to this driver (it is then skipped, with that reason), or undefined. */
  skip?(s: Subject, name: string): string | undefined;
  run(s: Subject, env: CaseEnv): Promise<void>;
}

export interface Harness {
  /** Builds the subject and connects the driver (the "setup" case). */
  setup(): Promise<Subject>;
  /** Runs one case's body between the mode's bookkeeping (recording, or checking the replay). */
  runCase(c: { id: string; title: string }, body: () => Promise<void>): Promise<void>;
  /** Closes driver and subject (the "teardown" case) and stops the peer. */
  teardown(s: Subject | undefined): Promise<void>;
  sleep(ms: number): Promise<void>;
}

export interface Mode {
  name: "real" | "replay";
  /** Why this driver cannot run in this mode here, or undefined. */
  skip(driver: string): string | undefined;
  harness(driver: string): Harness;
}

export const CASES: ContractCase[] = [
  {
    id: "facts",
    title: "is registered under its name and reports facts about the real device",
    run: async (s, { name }) => {
      expect(s.driver.name).toBe(name);
      const f = await s.driver.facts();
      expect(f).toMatchObject({ driver: name, reachable: true });
      expect(Date.parse(f.observedAt)).not.toBeNaN();
    },
  },
  {
    id: "link-security",
    title: "reports link-security state with a known status and a timestamp",
    run: async (s) => {
      const states = await s.driver.linkSecurity();
      for (const st of states) {
        expect(["secured", "unsecured", "pending", "unknown"]).toContain(st.status);
        expect(st.detail.length).toBeGreaterThan(0);
      }
    },
  },
  {
    id: "read-only-refuses-writes",
    title: "a read-only driver refuses every write step",
    skip: (s, name) => (s.driver.flags.writable ? `${name} is writable` : undefined),
    run: async (s) => {
      for (const step of [
        () => s.driver.loadCandidate({ kind: "l1", settings: {} }),
        () => s.driver.diff(),
        () => s.driver.commit({ confirmTimeoutS: 5 }),
        () => s.driver.confirm(),
        () => s.driver.rollback(),
      ])
        await expect(step()).rejects.toBeInstanceOf(UnsupportedError);
    },
  },
  {
    id: "stage-diff-rollback",
    title: "a staged change shows in the diff and changes nothing live; rollback drops it",
    skip: (s, name) => (!s.driver.flags.candidate || !s.change ? `${name} has no candidate to stage into` : undefined),
    run: async (s) => {
      const before = await s.observe();
      await s.driver.loadCandidate(s.change!);
      const diff = await s.driver.diff();
      expect(diff).not.toBe("");
      expect(diff).not.toContain(CAK); // secrets never appear in a diff
      expect(await s.observe()).toBe(before);
      await s.driver.rollback();
      expect(await s.observe()).toBe(before);
    },
  },
  {
    id: "confirmed-commit-times-out",
    title: "a confirmed commit that is not confirmed really rolls back",
    skip: (s, name) => (!s.driver.flags.confirmedCommit || !s.change ? `${name} has no confirmed commit` : undefined),
    run: async (s, { sleep }) => {
      const before = await s.observe();
      await s.driver.loadCandidate(s.change!);
      // 4 s: long enough that the first observation lands inside the window on a loaded machine (a VM under TCG)
      await s.driver.commit({ confirmTimeoutS: 4 });
      expect(await s.observe()).not.toBe(before);
      await sleep(6000);
      expect(await s.observe()).toBe(before);
      await s.driver.rollback().catch(() => undefined); // nothing left to cancel: the device already did
    },
  },
  {
    id: "confirmed-commit-confirmed",
    title: "a confirmed commit that is confirmed stays",
    skip: (s, name) => (!s.driver.flags.confirmedCommit || !s.change ? `${name} has no confirmed commit` : undefined),
    run: async (s, { sleep }) => {
      await s.driver.loadCandidate(s.change!);
      // 8 s: the confirm must arrive inside the window even when commit and observe are slow (loaded machine);
      // then wait past where the window would have closed
      await s.driver.commit({ confirmTimeoutS: 8 });
      const during = await s.observe();
      await s.driver.confirm();
      await sleep(8500);
      expect(await s.observe()).toBe(during);
    },
  },
  {
    id: "cancel-pending",
    title: "a confirmed commit left by a closed session is cancelled by its token from a new one (cancelPending)",
    skip: (s, name) =>
      !s.driver.cancelPending || s.change?.kind !== "macsec" ? `${name} has no cancelPending, or is not a MACsec driver` : undefined,
    run: async (s) => {
      if (s.change?.kind !== "macsec" || !s.driver.cancelPending) throw new Error("unreachable: skipped above");
      const before = await s.observe();
      // a change from whatever earlier steps left: the other XPN suite
      const suite = /128/.test(before) ? "GCM-AES-XPN-256" : "GCM-AES-XPN-128";
      await s.driver.loadCandidate({ ...s.change, policy: { ...s.change.policy, suite } });
      await s.driver.commit({ confirmTimeoutS: 60, token: "linkcrypt-contract-orphan" });
      expect(await s.observe()).not.toBe(before);
      await s.driver.close(); // the "dead" controller's session goes away; the persist token keeps the commit pending
      await s.driver.connect();
      expect(await s.observe()).not.toBe(before);
      expect(await s.driver.cancelPending("linkcrypt-contract-orphan")).toBe(true);
      expect(await s.observe()).toBe(before);
      expect(await s.driver.cancelPending("linkcrypt-contract-orphan")).toBe(false); // nothing pending any more
    },
  },
  {
    id: "key-rotation",
    title: "a MACsec key rotation installs both keys, then retiring leaves only the new one",
    skip: (s, name) => (!s.keys || s.change?.kind !== "macsec" ? `${name} is not a MACsec driver with observable keys` : undefined),
    run: async (s) => {
      if (s.change?.kind !== "macsec" || !s.keys) throw new Error("unreachable: skipped above");
      const base = s.change;
      const step = async (c: ConfigChange) => {
        await s.driver.loadCandidate(c);
        await s.driver.commit({ confirmTimeoutS: 30 });
        if (s.driver.flags.confirmedCommit) await s.driver.confirm();
      };
      await step(base);
      expect(await s.keys()).toEqual(["0a0b"]);
      const next = { ckn: "0c0d", cak: NEXT_CAK };
      await step({ ...base, keychain: { ...base.keychain, nextKey: next } });
      expect(await s.keys()).toEqual(["0a0b", "0c0d"]);
      await step({
        ...base,
        keychain: { name: base.keychain.name, cryptoAlgorithm: base.keychain.cryptoAlgorithm, ...next, retireCkns: ["0a0b"] },
      });
      expect(await s.keys()).toEqual(["0c0d"]);
    },
  },
  {
    id: "plain-commit",
    title: "without confirmed commit, confirm() says so; commit is verified and rollback restores",
    skip: (s, name) =>
      s.driver.flags.confirmedCommit || !s.driver.flags.writable || !s.change ? `${name} has confirmed commit, or is read-only` : undefined,
    run: async (s) => {
      await expect(s.driver.confirm()).rejects.toBeInstanceOf(UnsupportedError);
      const before = await s.observe();
      await s.driver.loadCandidate(s.change!);
      await s.driver.commit({ confirmTimeoutS: 2 });
      const after = await s.observe();
      expect(after).not.toBe(before);
      expect(s.driver.flags.rollback).toBe(true);
      await s.driver.rollback();
      expect(await s.observe()).toBe(before);
    },
  },
];

/** Registers the suite for each driver, in one mode; every result's name carries the mode ("[real]", "[replay]"). */
export function contractSuite(mode: Mode, drivers: string[]): void {
  for (const name of drivers) {
    const unavailable = mode.skip(name);
    describe(`[${mode.name}] drivers: contract: ${name}`, () => {
      let h: Harness | undefined;
      let s: Subject | undefined;
      beforeAll(async () => {
        if (unavailable) return;
        h = mode.harness(name);
        s = await h.setup();
      }, 300_000); // a kernel-lab VM boots under TCG
      afterAll(async () => {
        await h?.teardown(s);
      }, 60_000);
      for (const c of CASES)
        it(c.title, async (t) => {
          if (unavailable) return t.skip(unavailable);
          if (!h || !s) throw new Error(`${name}: the subject was not set up`);
          const why = c.skip?.(s, name);
          if (why) return t.skip(why);
          const subject = s;
          await h.runCase(c, () => c.run(subject, { name, sleep: h!.sleep }));
        });
    });
  }
}
