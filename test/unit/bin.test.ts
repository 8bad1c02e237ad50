import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";

/** bin/linkcrypt.js as a user runs it: the bundle when there is a current one, the sources through tsx otherwise. */
const bin = (env: Record<string, string>, ...args: string[]) =>
  spawnSync(process.execPath, ["bin/linkcrypt.js", ...args], { encoding: "utf8", env: { ...process.env, ...env } });

describe("cli: bin", () => {
  it("runs the sources through tsx when told to (or when there is no bundle): --version says so", () => {
    const r = bin({ LINKCRYPT_FROM_SOURCE: "1" }, "--version");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^linkcrypt \d+\.\d+\.\d+\S* \(.*from source.*\)\n$/);
  });

  it.skipIf(!existsSync("dist/linkcrypt.mjs"))(
    "runs the bundle (npm run build) with the version and commit embedded; bare, it exits 64",
    () => {
      const v = bin({ LINKCRYPT_FROM_SOURCE: "0" }, "--version");
      expect(v.status, v.stderr).toBe(0);
      expect(v.stdout).toMatch(/^linkcrypt \d+\.\d+\.\d+\S* \((?:[0-9a-f]{12}(?:-dirty)?|unknown commit)\)\n$/);
      const bare = bin({ LINKCRYPT_FROM_SOURCE: "0" });
      expect(bare.status).toBe(64);
      expect(bare.stderr).toContain("Usage: linkcrypt");
    },
  );
});
