import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { cli } from "../cli-run.js";

/** Plans of the bundled examples, byte for byte. Refresh deliberately with UPDATE_GOLDEN=1 and review the diff. */
const examples = ["two-site-dwdm", "three-site-mixed"];

describe("planner: golden plans", () => {
  it.each(examples)("examples/%s.yaml plans to its golden plan", async (name) => {
    const r = await cli("plan", `examples/${name}.yaml`, "--json");
    expect(r.code).toBe(0);
    const golden = `test/golden/${name}.plan.json`;
    if (process.env.UPDATE_GOLDEN) writeFileSync(golden, r.out);
    expect(existsSync(golden), `${golden} is missing: run UPDATE_GOLDEN=1 npx vitest run test/unit/golden-plans.test.ts`).toBe(true);
    expect(r.out).toBe(readFileSync(golden, "utf8"));
  });
});
