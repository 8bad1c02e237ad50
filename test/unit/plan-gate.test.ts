import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { gatePlan, planDecisionDiffs } from "../../src/apply/plan-gate.js";
import type { Plan } from "../../src/planner/plan-types.js";
import { cli } from "../cli-run.js";

const dir = mkdtempSync(join(tmpdir(), "lc-plan-gate-"));
const INV = "examples/two-site-dwdm.yaml";

async function savedPlan(inv = INV): Promise<{ file: string; plan: Plan }> {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  const r = await cli("plan", inv, "--out", file);
  expect(r.code, r.out).toBe(0);
  return { file, plan: JSON.parse(readFileSync(file, "utf8")) as Plan };
}

/** apply with devices nobody can reach: the gate runs before any device is contacted. */
const apply = (file: string, inv = INV) =>
  cli("apply", file, "--inventory", inv, "--dry-run", "--state-dir", join(dir, "state"), "--known-hosts", join(dir, "none"));

describe("apply: plan gate", () => {
  it("refuses a hand-edited cipher, naming the link, the field and both values", async () => {
    const { file, plan } = await savedPlan();
    plan.links[0]!.cipher = "GCM-AES-256";
    writeFileSync(file, JSON.stringify(plan));
    const r = await apply(file);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/does not match the decisions re-derived from examples\/two-site-dwdm\.yaml/);
    expect(r.err).toContain('link ams1-fra1-dwdm: cipher: plan has "GCM-AES-256", re-derived "GCM-AES-XPN-256"');
  });

  it("names method, suite, MTU, offload and members, each with both values", async () => {
    const { plan } = await savedPlan();
    const fresh = structuredClone(plan);
    const l = plan.links[0]!;
    l.method = "l1";
    l.macsec!.suite = "GCM-AES-128";
    l.mtu.recommendedMtu = 9216;
    const m = plan.meshes[0]!;
    m.pairClasses.find((c) => c.id === "pc1")!.sides![0].hwOffload = "no";
    m.members = m.members.filter((x) => x.name !== "fra1-db1");
    expect(planDecisionDiffs(plan, fresh)).toEqual([
      'link ams1-fra1-dwdm: macsec.suite: plan has "GCM-AES-128", re-derived "GCM-AES-XPN-256"',
      'link ams1-fra1-dwdm: method: plan has "l1", re-derived "macsec"',
      "link ams1-fra1-dwdm: mtu.recommendedMtu: plan has 9216, re-derived 9170",
      expect.stringMatching(/^mesh dc-lan: members\[fra1-db1\]: plan has nothing, re-derived \{"name":"fra1-db1"/),
      'mesh dc-lan: pairClasses[pc1].sides[0].hwOffload: plan has "no", re-derived "packet"',
    ]);
    expect(() => gatePlan({ saved: plan, fresh, planFile: "p.json", inventoryFile: "i.yaml" })).toThrow(
      /hwOffload: plan has "no", re-derived "packet"/,
    );
  });

  it("acts only on the re-derived plan: the gate returns it, not the file's object", async () => {
    const { plan } = await savedPlan();
    const fresh = structuredClone(plan);
    const reordered = { ...plan, meshes: plan.meshes.map((m) => ({ ...m, members: [...m.members].reverse() })) };
    const got = gatePlan({ saved: reordered, fresh, planFile: "p.json", inventoryFile: "i.yaml" });
    expect(got).toBe(fresh);
  });

  it("refuses a plan made for another inventory as such, not as 'the inventory changed'", async () => {
    const { file } = await savedPlan("examples/lab-2site.yaml");
    const r = await apply(file);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/this plan was made for inventory "lab-2site", but examples\/two-site-dwdm\.yaml is inventory "two-site-dwdm"/);
    expect(r.err).not.toMatch(/inventory changed/);
  });

  it("refuses an edited summary that hides errors, and a file that is not a plan (exit 1, no crash)", async () => {
    const { plan } = await savedPlan();
    const fresh = structuredClone(plan);
    fresh.summary.errors = 1;
    expect(() => gatePlan({ saved: plan, fresh, planFile: "p.json", inventoryFile: "i.yaml" })).toThrow(/has 1 error\(s\)/);
    for (const bad of ["null", "[]", '{"format":"linkcrypt-plan","version":1}']) {
      const f = join(dir, "bad.json");
      writeFileSync(f, bad);
      const r = await apply(f);
      expect(r.code, r.err).toBe(1);
      expect(r.err).not.toMatch(/internal error/);
    }
  });
});

describe("apply: plan gate, unnamed inventories", () => {
  it("says a stale plan of an unnamed inventory may be another inventory's, and how to tell them apart", async () => {
    const { plan } = await savedPlan();
    const fresh = { ...structuredClone(plan), inventory: "inventory" };
    const saved = { ...plan, inventory: "inventory", inputs: { ...plan.inputs, inventoryDigest: "sha256:other" } };
    expect(() => gatePlan({ saved, fresh, planFile: "p.json", inventoryFile: "i.yaml" })).toThrow(
      /is stale: the inventory changed since it was made \(or it was made for another inventory: give each inventory a name: to tell them apart\)/,
    );
  });
});
