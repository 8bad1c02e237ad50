import { describe, expect, it } from "vitest";
import type { DeviceFacts } from "../../drivers/contract.js";
import { applyFacts, FACTS_FORMAT, type FactsFile } from "../../src/model/facts.js";
import { buildPlan } from "../../src/planner/build-plan.js";
import { load, messages, twoSite } from "../helpers.js";

/**
 * `plan --facts`: what a switch announced at discovery limits what is planned on it, by the rules the drivers apply
 * before sending (openconfig-macsec revision in the hello; Junos platform family from the product model).
 */
const at = "2026-11-28T05:00:00.000Z";
const oc = (macsecRev: string, keychainRev: string): DeviceFacts => ({
  device: "x",
  driver: "openconfig-macsec",
  reachable: true,
  observedAt: at,
  netconf: {
    candidate: true,
    confirmedCommit: true,
    capabilities: [
      "urn:ietf:params:netconf:base:1.1",
      `http://openconfig.net/yang/macsec?module=openconfig-macsec&revision=${macsecRev}`,
      `http://openconfig.net/yang/oc-keychain?module=openconfig-keychain&revision=${keychainRev}`,
    ],
  },
});
const junos = (productModel: string): DeviceFacts => ({
  device: "x",
  driver: "junos-macsec",
  reachable: true,
  observedAt: at,
  system: { description: productModel },
  netconf: { candidate: true, confirmedCommit: true, capabilities: [] },
});
const facts = (devices: Record<string, DeviceFacts>): FactsFile => ({ format: FACTS_FORMAT, version: 1, inventory: "t", devices });

function withFacts(inv: Record<string, unknown>, f: FactsFile) {
  const r = load(inv);
  if (!r.model) throw new Error(messages(r.diagnostics).join("\n"));
  const a = applyFacts(r.model, f);
  return {
    diagnostics: a.diagnostics,
    plan: buildPlan(a.model, { inventoryDigest: "t", profilesDigest: "t" }, [...r.diagnostics, ...a.diagnostics]),
  };
}
const ocLink = (link = {}) => twoSite({ a: "a-sw:Ethernet1", b: "b-sw:Ethernet1", ...link }, {}, "lab-openconfig-switch");

describe("plan --facts: MACsec features the switch cannot be configured with", () => {
  it("openconfig-macsec 1.1.1: a link that includes the SCI is an error naming link, device and revision; with macsecOmitSci it plans", () => {
    const r = withFacts(ocLink(), facts({ "a-sw": oc("2023-08-03", "2022-11-05"), "b-sw": oc("2025-01-02", "2024-05-30") }));
    expect(messages(r.diagnostics, "error")).toEqual([
      expect.stringMatching(
        /a-sw: link ab: MACsec would include the SCI, but the device \(openconfig-macsec 1\.1\.1 \(2023-08-03\), openconfig-keychain 0\.4\.0 \(2022-11-05\)\) has no include-sci leaf/,
      ),
    ]);
    const ok = withFacts(
      ocLink({ macsecOmitSci: true }),
      facts({ "a-sw": oc("2023-08-03", "2022-11-05"), "b-sw": oc("2023-08-03", "2022-11-05") }),
    );
    expect(messages(ok.diagnostics, "error")).toEqual([]);
    expect(ok.plan.links[0]).toMatchObject({ method: "macsec" });
  });
  it("openconfig-keychain 0.3.0: no CKN of linkcrypt's fits its uint64 key-id", () => {
    const r = withFacts(ocLink(), facts({ "a-sw": oc("2025-01-02", "2022-03-05") }));
    expect(messages(r.diagnostics, "error")).toEqual([
      expect.stringMatching(/a-sw: link ab: MACsec cannot be configured on this device .*uint64/),
    ]);
  });
  it("1.2.0 / 0.5.0 and devices that announce nothing: no limits", () => {
    expect(messages(withFacts(ocLink(), facts({ "a-sw": oc("2025-01-02", "2024-05-30") })).diagnostics, "error")).toEqual([]);
    const silent: DeviceFacts = {
      ...oc("x", "y"),
      netconf: { candidate: true, confirmedCommit: true, capabilities: ["urn:ietf:params:netconf:base:1.1"] },
    };
    expect(withFacts(ocLink(), facts({ "a-sw": silent })).diagnostics).toEqual([]);
  });
  it("a Junos switch whose product model is EX: only GCM-AES-128 is planned; a pinned 256-bit suite is refused by the planner", () => {
    const f = facts({ "a-sw": junos("ex4400-48f") });
    const r = withFacts(twoSite({ speed: "10G" }, {}, "juniper-qfx5120-48ym"), f);
    expect(messages(r.diagnostics, "warning").join("\n")).toMatch(
      /a-sw: profile juniper-qfx5120-48ym lists .* the device \(product model ex4400-48f .*\) can be set only to GCM-AES-128/,
    );
    expect(r.plan.links[0]).toMatchObject({ method: "macsec", cipher: "GCM-AES-128" });
    const pinned = withFacts(twoSite({ speed: "10G", macsecSuite: "GCM-AES-256" }, {}, "juniper-qfx5120-48ym"), f);
    expect(JSON.stringify(pinned.plan.links[0])).toMatch(/GCM-AES-256 is not available on both ports/);
  });
});
