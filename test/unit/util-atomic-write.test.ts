import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeFileAtomic } from "../../src/util/atomic-write.js";

describe("util: writeFileAtomic", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), "linkcrypt-atomic-"));
    dirs.push(d);
    return d;
  };

  it("creates missing parents, sets the mode whatever the umask, and leaves no temporary file", () => {
    const d = tmp();
    const p = join(d, "a", "b", "secrets.conf");
    writeFileAtomic(p, "one\n", { mode: 0o600, mkdir: true });
    expect(readFileSync(p, "utf8")).toBe("one\n");
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(d, "a", "b"))).toEqual(["secrets.conf"]);
  });

  it("replaces an existing file whole", () => {
    const d = tmp();
    const p = join(d, "plan.json");
    writeFileAtomic(p, "first, and longer\n");
    writeFileAtomic(p, "second\n");
    expect(readFileSync(p, "utf8")).toBe("second\n");
    expect(readdirSync(d)).toEqual(["plan.json"]);
  });

  it("without mkdir, a missing directory is an error and nothing is written", () => {
    const d = tmp();
    expect(() => writeFileAtomic(join(d, "missing", "f"), "x")).toThrow(/ENOENT/);
    expect(readdirSync(d)).toEqual([]);
  });

  it("a rename that fails (the target is a directory) leaves the directory as it was and no temporary file", () => {
    const d = tmp();
    mkdirSync(join(d, "plan.json"));
    expect(() => writeFileAtomic(join(d, "plan.json"), "x")).toThrow(/EISDIR|ENOTEMPTY|EEXIST/);
    expect(readdirSync(d)).toEqual(["plan.json"]);
  });
});
