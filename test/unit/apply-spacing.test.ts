import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { Driver } from "../../drivers/contract.js";
import { registerDriver } from "../../drivers/registry.js";
import { applyPlan } from "../../src/apply/apply.js";
import type { Inventory } from "../../src/model/inventory-schema.js";
import { loadProfiles } from "../../src/model/load-profiles.js";
import { parseInventory } from "../../src/model/load-inventory.js";
import { buildPlan } from "../../src/planner/build-plan.js";
import { openState } from "../../src/state/open.js";

/** An in-process fake switch that records when each step reached it (a test double, not a peer). */
const steps: { device: string; step: string; at: number }[] = [];
registerDriver("test-spacing", (ctx): Driver => {
  let live = false;
  const note = (step: string) => void steps.push({ device: ctx.device, step, at: Date.now() });
  return {
    name: "test-spacing",
    device: ctx.device,
    flags: { writable: true, candidate: true, confirmedCommit: true, rollback: true, verifiedWrites: false },
    connect: async () => undefined,
    close: async () => undefined,
    facts: async () => ({ device: ctx.device, driver: "test-spacing", reachable: true, observedAt: "" }),
    linkSecurity: async () => [{ port: "eth1", status: live ? "secured" : "unsecured", detail: "fake", observedAt: "" }],
    loadCandidate: async () => note("stage"),
    diff: async () => (live ? "" : "+ change"),
    commit: async () => (note("commit"), void (live = true)),
    confirm: async () => note("confirm"),
    rollback: async () => undefined,
  } as Driver;
});

describe("apply: --per-device-interval spaces the steps of one transaction", () => {
  it("a commit and its confirm on one device are at least the interval apart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-spacing-"));
    writeFileSync(
      join(dir, "fake-switch.yaml"),
      stringify({
        kind: "switch",
        name: "fake-switch",
        vendor: "test",
        model: "in-process fake",
        driver: "test-spacing",
        maxFrame: 9216,
        portGroups: [{ match: "eth*", macsec: { suites: ["GCM-AES-XPN-256"], sci: "always" } }],
      }),
    );
    const { profiles } = loadProfiles([dir]);
    const sw = (name: string, site: string) => ({
      name,
      kind: "switch",
      site,
      profile: "fake-switch",
      management: { address: "fake", transport: "ssh" },
      ports: [{ name: "eth1", speed: "100G", mtu: 9000 }],
    });
    const inv = {
      version: 1,
      name: "spacing",
      policy: "default",
      sites: [{ name: "a" }, { name: "b" }],
      devices: [sw("a1", "a"), sw("b1", "b")],
      links: [{ name: "l1", a: "a1:eth1", b: "b1:eth1", medium: "dwdm", speed: "100G", pathMtu: 9216 }],
    };
    const r = parseInventory("spacing.yaml", stringify(inv), profiles!);
    const plan = buildPlan(r.model!, { inventoryDigest: "t", profilesDigest: "t" });
    const store = await openState({ state: join(dir, "state.sqlite"), inventory: "spacing", secrets: { env: {} } });
    const gap = 400;
    const results = await applyPlan(plan, r.data as Inventory, profiles!, {
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
    expect(results.map((x) => `${x.target}:${x.outcome}`)).toEqual(["l1:changed"]);
    for (const device of ["a1", "b1"]) {
      const at = (step: string) => steps.find((s) => s.device === device && s.step === step)!.at;
      expect(at("commit") - at("stage"), `${device} stage -> commit`).toBeGreaterThanOrEqual(gap - 5);
      expect(at("confirm") - at("commit"), `${device} commit -> confirm`).toBeGreaterThanOrEqual(gap - 5);
    }
  });
});
