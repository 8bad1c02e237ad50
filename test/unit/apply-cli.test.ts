import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { limitSelection } from "../../src/apply/run-apply.js";
import { runApply } from "../../src/cli/apply.js";
import { runRotate } from "../../src/cli/keys.js";
import { loadAll, planFromLoaded } from "../../src/cli/load.js";
import type { Inventory } from "../../src/model/inventory-schema.js";
import { parseLimit } from "../../src/model/limit.js";

const INV = "examples/two-site-dwdm.yaml";
const tmp = mkdtempSync(join(tmpdir(), "linkcrypt-apply-cli-"));
const sink = () => {
  let text = "";
  return { write: (s: string) => void (text += s), text: () => text };
};

/** The example's plan, saved as `plan --out` would. */
function savedPlan(): string {
  const file = join(tmp, "plan.json");
  writeFileSync(file, JSON.stringify(planFromLoaded(loadAll(INV, []))));
  return file;
}

describe("cli: apply and rotate take --limit and --batch (checked before any device or state is touched)", () => {
  it("a --limit term that matches nothing is a usage error naming it", async () => {
    const out = sink();
    const err = sink();
    await expect(
      runApply(savedPlan(), { inventory: INV, profiles: [], limit: "ams1-*,nosuch", json: true }, out, err),
    ).rejects.toMatchObject({
      code: "E_USAGE",
      message: expect.stringMatching(/"nosuch" matches no link, device, site or host/),
    });
    expect(out.text()).toBe("");
  });

  it("a malformed --batch is a usage error", async () => {
    await expect(runApply(savedPlan(), { inventory: INV, profiles: [], batch: "0", json: true }, sink(), sink())).rejects.toMatchObject({
      code: "E_USAGE",
      message: expect.stringMatching(/--batch/),
    });
    await expect(runApply(savedPlan(), { inventory: INV, profiles: [], batch: "150%" }, sink(), sink())).rejects.toMatchObject({
      code: "E_USAGE",
    });
  });

  it("rotate mesh refuses --limit and --batch: a PSK roll on some hosts would leave pairs with two keys", async () => {
    await expect(runRotate("mesh", "m", { inventory: INV, profiles: [], limit: "ams1" }, sink(), sink())).rejects.toMatchObject({
      code: "E_USAGE",
      message: expect.stringMatching(/rotate mesh takes no --limit or --batch/),
    });
  });
});

describe("apply --limit on an L1 link: its transaction runs on the inline encryptors", () => {
  const l = loadAll("examples/three-site-mixed.yaml", []);
  const plan = planFromLoaded(l)!;
  const inv = l.data as Inventory;
  const links = (pattern: string) => [...limitSelection(plan, inv, parseLimit(pattern)).links].filter((n) => n === "lon1-par1-wave");

  it("naming an encryptor selects its link; excluding one leaves the link alone even when its switch is named", () => {
    expect(links("lon1-enc1")).toEqual(["lon1-par1-wave"]);
    expect(links("lon1-sw1")).toEqual(["lon1-par1-wave"]);
    expect(links("lon1-sw1,!par1-enc1")).toEqual([]);
    expect(links("lon1-sw2")).toEqual([]);
    expect(links("lon1-enc1,!lon1-sw1")).toEqual([]);
    expect(links("lon1-enc1,!par1")).toEqual([]);
  });
});
