import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Driver } from "../../drivers/contract.js";
import { applyPlan } from "../../src/apply/apply.js";
import { openState } from "../../src/state/open.js";
import { simPlan } from "../sim-driver.js";

/** An in-process fake switch that records when each step reached it (a test double, not a peer). */
const steps: { device: string; step: string; at: number }[] = [];
function spacingDevice(device: string): Driver {
  let live = false;
  const note = (step: string) => void steps.push({ device: device, step, at: Date.now() });
  return {
    name: "test-spacing",
    device: device,
    flags: { writable: true, candidate: true, confirmedCommit: true, rollback: true, verifiedWrites: false },
    connect: async () => undefined,
    close: async () => undefined,
    facts: async () => ({ device, driver: "test-spacing", reachable: true, observedAt: "" }),
    linkSecurity: async () => [{ port: "eth1", status: live ? "secured" : "unsecured", detail: "fake", observedAt: "" }],
    loadCandidate: async () => note("stage"),
    diff: async () => (live ? "" : "+ change"),
    commit: async () => (note("commit"), void (live = true)),
    confirm: async () => note("confirm"),
    rollback: async () => undefined,
  } as Driver;
}

describe("apply: --per-device-interval spaces the steps of one transaction", () => {
  it("a commit and its confirm on one device are at least the interval apart", async () => {
    const { plan, inv, profiles, dir } = simPlan(1, { name: "spacing", device: spacingDevice });
    const store = await openState({ state: join(dir, "state.sqlite"), inventory: "spacing", secrets: { env: {} } });
    const gap = 400;
    const results = await applyPlan(plan, inv, profiles, {
      access: {
        knownHostsFile: "/dev/null",
        acceptNewHostKey: false,
        secrets: { env: {} },
        connectTimeoutMs: 1000,
        commandTimeoutMs: 1000,
      },
      store,
      run: "spacing",
      confirmTimeoutS: 60,
      securedTimeoutMs: 2000,
      dryRun: false,
      maxFailPercent: 0,
      limits: { globalConcurrency: 4, perDeviceConcurrency: 1, perDeviceMinTimeMs: gap },
    });
    expect(results.map((x) => `${x.target}:${x.outcome}`)).toEqual(["l0:changed"]);
    for (const device of ["a0", "b0"]) {
      const at = (step: string) => steps.find((s) => s.device === device && s.step === step)!.at;
      expect(at("commit") - at("stage"), `${device} stage -> commit`).toBeGreaterThanOrEqual(gap - 5);
      expect(at("confirm") - at("commit"), `${device} commit -> confirm`).toBeGreaterThanOrEqual(gap - 5);
    }
  });
});
