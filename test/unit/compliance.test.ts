import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadProfiles } from "../../src/model/load-profiles.js";
import { parseInventory } from "../../src/model/load-inventory.js";
import { buildPlan } from "../../src/planner/build-plan.js";
import { evaluateCompliance } from "../../src/report/compliance.js";
import { buildReport } from "../../src/report/report.js";
import { reportHtml, reportMarkdown } from "../../src/report/render.js";
import { plan, profiles, twoSite } from "../helpers.js";

describe("report: compliance", () => {
  it("a CNSA plan has no findings under any standard", () => {
    expect(evaluateCompliance(plan(readFileSync("examples/three-site-mixed.yaml", "utf8")), profiles())).toEqual([]);
  });

  it("maps weak choices to the standards they break", () => {
    const f = evaluateCompliance(plan(readFileSync("examples/two-site-dwdm.yaml", "utf8")), profiles());
    expect(f.map((x) => `${x.standard}|${x.subject}`)).toContain("BSI TR-02102-3|mesh dc-lan");
    expect(f.filter((x) => x.standard === "CNSA" && /ESP aes-gcm-128/.test(x.message)).length).toBe(5);
    expect(f.some((x) => x.standard === "PCI DSS 4.0")).toBe(false);
  });

  it("flags a non-XPN suite at 40G+ and an unencrypted untrusted medium", () => {
    const p = loadProfiles(["test/fixtures/policies"]).profiles!;
    // ab: MACsec with a pinned non-XPN suite at 100G (the test policy allows it up to 400G; real standards do not).
    // ab2: a DWDM link on ports without MACsec, left in clear (the test policy trusts DWDM; CNSA does not).
    const inv = { ...twoSite({ speed: "100G", macsecSuite: "GCM-AES-128" }), policy: "lax-xpn" };
    ((inv as Record<string, unknown>).links as object[]).push({
      name: "ab2",
      a: "a-sw:Ethernet1",
      b: "b-sw:Ethernet1",
      medium: "dwdm",
      speed: "100G",
      pathMtu: 9216,
    });
    const r = parseInventory("t.yaml", JSON.stringify(inv), p);
    const pl = buildPlan(r.model!, { inventoryDigest: "t", profilesDigest: "t" });
    expect(pl.links.map((l) => [l.name, l.method, l.cipher])).toEqual([
      ["ab", "macsec", "GCM-AES-128"],
      ["ab2", "none", null],
    ]);
    const f = evaluateCompliance(pl, p);
    expect(f.find((x) => x.standard === "PCI DSS 4.0" && x.subject === "link ab")!.message).toMatch(/non-XPN suite GCM-AES-128 at 100G/);
    expect(f.find((x) => x.standard === "CNSA" && x.subject === "link ab2")!.message).toMatch(/dwdm link is not encrypted \(none\)/);
    // The PCI profile trusts only lan and dark-fibre, so a leased DWDM wave in clear is a PCI finding too.
    expect(f.some((x) => x.standard === "PCI DSS 4.0" && x.subject === "link ab2")).toBe(true);
  });

  it("report renderers carry the same links and findings", () => {
    const r = buildReport(plan(readFileSync("examples/two-site-dwdm.yaml", "utf8")), profiles(), {
      generatedAt: "2026-01-01T00:00:00Z",
      tool: { version: "0.1.0", commit: null },
    });
    const md = reportMarkdown(r);
    const html = reportHtml(r, '<svg role="img" aria-label="topology"></svg>');
    for (const text of [md, html]) {
      expect(text).toContain("ams1-fra1-dwdm");
      expect(text).toContain("GCM-AES-XPN-256");
      expect(text).toContain("ESP aes-gcm-128 is not among CNSA");
    }
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|src="http|href="http/); // self-contained
    expect(html).toMatch(/<svg [^>]*aria-label="topology"/);
  });
});
