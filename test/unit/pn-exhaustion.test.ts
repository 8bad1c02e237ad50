import { describe, expect, it } from "vitest";
import { explainPnExhaustion, secondsToExhaust } from "../../src/planner/pn-exhaustion.js";

// 2^32 / (speed / ((64 + 20) * 8)): a 64-byte frame occupies 84 bytes on the wire (preamble+SFD 8, IFG 12).
describe("planner: pn-exhaustion", () => {
  it.each([
    [10e9, 288.6],
    [25e9, 115.4],
    [40e9, 72.2],
    [100e9, 28.9],
    [400e9, 7.2],
  ])("at %d bit/s a 32-bit PN lasts %d s with 64-byte frames", (speed, s) => {
    expect(secondsToExhaust(speed, 64, 32)).toBeCloseTo(s, 1);
  });
  it("100G with 1518-byte frames: 2^32 / (1e11 / (1538 * 8)) = 528 s", () => {
    expect(Math.round(secondsToExhaust(100e9, 1518, 32))).toBe(528);
  });
  it("the explanation states the arithmetic", () => {
    const t = explainPnExhaustion(100e9);
    expect(t).toContain("148.8 Mframes/s");
    expect(t).toContain("28.9 s");
  });
});
