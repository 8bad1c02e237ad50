import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { applyLimit, batches, parseBatch, parseLimit, selectLimited } from "../../src/model/limit.js";

const targets = {
  links: [
    { name: "fra-ams", a: { device: "sw-fra1", site: "fra" }, b: { device: "sw-ams1", site: "ams" } },
    { name: "fra-lon", a: { device: "sw-fra2", site: "fra" }, b: { device: "sw-lon1", site: "lon" } },
  ],
  hosts: [
    { name: "db1", site: "fra" },
    { name: "db2", site: "ams" },
    { name: "web1", site: "lon" },
  ],
  devices: [
    { name: "sw-fra1", site: "fra" },
    { name: "sw-ams1", site: "ams" },
  ],
};

describe("--limit", () => {
  it("selects by glob on names and sites, lists and exclusions", () => {
    const s = applyLimit(parseLimit("db*,!db2"), targets);
    expect([...s.hosts]).toEqual(["db1"]);
    expect(s.links.size).toBe(0);
    const site = applyLimit(parseLimit("ams"), targets);
    expect([...site.links]).toEqual(["fra-ams"]);
    expect([...site.hosts]).toEqual(["db2"]);
    expect([...site.devices]).toEqual(["sw-ams1"]);
    const neg = applyLimit(parseLimit("!lon"), targets);
    expect([...neg.links]).toEqual(["fra-ams"]);
    expect([...neg.hosts]).toEqual(["db1", "db2"]);
    expect([...applyLimit(parseLimit("sw-[fl]*1"), targets).links]).toEqual(["fra-ams", "fra-lon"]);
  });
  it("a term matching nothing is a usage error naming it", () => {
    expect(() => selectLimited(parseLimit("db1,dbx"), targets)).toThrow(/"dbx" matches no/);
    expect(() => selectLimited(parseLimit("dbx"), targets)).toThrow(UsageError);
  });
  it("rejects malformed patterns", () => {
    for (const bad of ["", ",", "!", "sw-[ab", "a,[]"]) expect(() => parseLimit(bad), bad).toThrow(UsageError);
  });
});

describe("--batch", () => {
  it("parses counts and percentages", () => {
    expect(parseBatch("2")).toEqual({ count: 2 });
    expect(parseBatch("25%")).toEqual({ percent: 25 });
    for (const bad of ["0", "0%", "101%", "-1", "1.5", "x", ""]) expect(() => parseBatch(bad), bad).toThrow(UsageError);
  });
  it("splits in order", () => {
    expect(batches([1, 2, 3, 4, 5], { count: 2 })).toEqual([[1, 2], [3, 4], [5]]);
    expect(batches([1, 2, 3, 4, 5], { percent: 50 })).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
    expect(batches([1, 2, 3], { percent: 1 })).toEqual([[1], [2], [3]]);
    expect(batches([], { count: 3 })).toEqual([]);
  });
});
