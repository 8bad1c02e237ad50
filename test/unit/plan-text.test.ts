import { describe, expect, it } from "vitest";
import { planFromLoaded, loadAll } from "../../src/cli/load.js";
import { planText, sequenceText } from "../../src/cli/plan-text.js";

describe("plan text", () => {
  it("shows each pair class's ESP sequence-number decision (ESN, packet-count rekey or 32-bit)", () => {
    const plan = planFromLoaded(loadAll("examples/three-site-mixed.yaml", ["profiles"]))!;
    const text = planText(plan);
    expect(text).toMatch(/\bseq\b/);
    for (const m of plan.meshes)
      for (const c of m.pairClasses) {
        const row = text.split("\n").find((l) => l.trimStart().startsWith(`${c.id} `) && l.includes(c.pathClass));
        expect(row, c.id).toBeDefined();
        expect(row).toContain(sequenceText(c));
      }
  });
  it("names the three cases", () => {
    expect(sequenceText({ esn: true, rekeyPackets: null })).toBe("ESN");
    expect(sequenceText({ esn: false, rekeyPackets: 4_000_000_000 })).toBe("rekey@4000000000pkt");
    expect(sequenceText({ esn: false, rekeyPackets: null })).toBe("32-bit");
  });
});
