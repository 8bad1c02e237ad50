import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hasErrors } from "../../src/model/diagnostics.js";
import { loadInventory } from "../../src/model/load-inventory.js";
import { buildPlan } from "../../src/planner/build-plan.js";
import { messages, profiles } from "../helpers.js";

/**
 * Each file in test/fixtures/bad is an inventory with a mistake. Its header lines say what must be reported:
 *   # expect: <path>: <message prefix>        a validation error
 *   # expect-plan: <path>: <message prefix>   a planning error (the inventory itself is valid)
 *   # expect-source: <file:line>               where the first error points
 */
const dir = "test/fixtures/bad";
const cases = readdirSync(dir)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

describe("model: bad-inventory corpus", () => {
  it("has cases", () => expect(cases.length).toBeGreaterThanOrEqual(15));

  it.each(cases)("%s is reported with its expected messages", (name) => {
    const file = join(dir, name);
    const text = readFileSync(file, "utf8");
    const expects = [...text.matchAll(/^# expect: (.+)$/gm)].map((m) => m[1]!);
    const planExpects = [...text.matchAll(/^# expect-plan: (.+)$/gm)].map((m) => m[1]!);
    const sourceExpect = /^# expect-source: (.+)$/m.exec(text)?.[1];
    expect(expects.length + planExpects.length).toBeGreaterThan(0);
    const r = loadInventory(file, profiles());
    const got = messages(r.diagnostics, "error");
    for (const e of expects)
      expect(
        got.some((g) => g.startsWith(e)),
        `expected "${e}" in:\n${got.join("\n")}`,
      ).toBe(true);
    if (expects.length > 0) {
      expect(r.model).toBeUndefined();
      // every problem is reported at once: at least as many errors as expectations
      expect(got.length).toBeGreaterThanOrEqual(expects.length);
    }
    if (sourceExpect) expect(r.diagnostics[0]!.source).toContain(sourceExpect);
    if (planExpects.length > 0) {
      expect(r.model, got.join("\n")).toBeDefined();
      const plan = buildPlan(r.model!, { inventoryDigest: "t", profilesDigest: "t" }, r.diagnostics);
      expect(hasErrors(plan.diagnostics)).toBe(true);
      const pg = messages(plan.diagnostics, "error");
      for (const e of planExpects)
        expect(
          pg.some((g) => g.startsWith(e)),
          `expected "${e}" in:\n${pg.join("\n")}`,
        ).toBe(true);
    }
  });

  it("points each schema error at its line in the file", () => {
    const r = loadInventory(join(dir, "unknown-device.yaml"), profiles());
    const d = r.diagnostics.find((x) => x.path === "links[0].b")!;
    expect(d.source).toMatch(/unknown-device\.yaml:\d+:\d+$/);
  });

  it("never echoes a secret written inline", () => {
    const r = loadInventory(join(dir, "inline-secret.yaml"), profiles());
    expect(JSON.stringify(r.diagnostics)).not.toContain("hunter2");
  });

  it("reports a missing file as a diagnostic, not a crash", () => {
    const r = loadInventory("test/fixtures/nope.yaml", profiles());
    expect(messages(r.diagnostics)[0]).toBe("(file): cannot read inventory test/fixtures/nope.yaml: no such file");
  });
});
