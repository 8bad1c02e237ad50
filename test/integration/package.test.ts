import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/**
 * The package as a user gets it: `npm pack` (which runs `prepare`, building the bundle), then a global install into
 * a temporary prefix, then `linkcrypt --version` from that prefix. Offline: a global install resolves the
 * dependencies' registry metadata, which this machine's npm cache may not hold (npm ci fetches tarballs only). When
 * npm says so (ENOTCACHED), the test installs the way npm does without the resolution: the tarball unpacked into
 * PREFIX/lib/node_modules/linkcrypt, the dependencies from this checkout's node_modules, the bin linked into
 * PREFIX/bin. It prints which way it went.
 */
const ROOT = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "../..");
const work = mkdtempSync(join(tmpdir(), "linkcrypt-pack-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const npm = (args: string[], cwd = ROOT) =>
  spawnSync("npm", args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });

describe("package: npm pack and a global install", () => {
  let tarball = "";
  let files: string[] = [];

  it("npm pack builds the bundle and ships no tests", () => {
    const r = npm(["pack", "--json", "--pack-destination", work]);
    expect(r.status, r.stderr).toBe(0);
    const [info] = JSON.parse(r.stdout) as { filename: string; files: { path: string }[] }[];
    tarball = join(work, info!.filename);
    files = info!.files.map((f) => f.path);
    expect(files).toEqual(
      expect.arrayContaining([
        "bin/linkcrypt.js",
        "dist/linkcrypt.mjs",
        "LICENSE",
        "package.json",
        "src/cli/main.ts",
        "profiles/policies/default.yaml",
      ]),
    );
    expect(files.filter((f) => f.startsWith("test/") || /\.(test|spec)\.ts$/.test(f))).toEqual([]);
    expect(files.filter((f) => f.startsWith("bench/") || f.startsWith("examples/") || f.startsWith(".ci/") || f.endsWith(".map"))).toEqual(
      [],
    );
  }, 300_000);

  it("a global install of the tarball runs linkcrypt --version and a verb from the bundle", () => {
    expect(tarball).not.toBe("");
    const prefix = join(work, "prefix");
    mkdirSync(prefix);
    const r = npm(["install", "-g", "--offline", "--no-audit", "--no-fund", "--prefix", prefix, tarball], work);
    let how = "npm install -g --offline";
    if (r.status !== 0) {
      expect(r.stderr, "only a missing offline cache entry is tolerated").toMatch(/ENOTCACHED/);
      how = "unpacked as npm would (no registry metadata in the offline cache); dependencies from the checkout";
      const dir = join(prefix, "lib/node_modules/linkcrypt");
      mkdirSync(dir, { recursive: true });
      execFileSync("tar", ["-xzf", tarball, "-C", dir, "--strip-components=1"]);
      symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
      mkdirSync(join(prefix, "bin"));
      symlinkSync("../lib/node_modules/linkcrypt/bin/linkcrypt.js", join(prefix, "bin/linkcrypt"));
    }
    console.log(`package test: ${how}`);
    const installed = join(prefix, "lib/node_modules/linkcrypt");
    expect(existsSync(join(installed, ".git"))).toBe(false);
    expect(readdirSync(join(installed, "dist"))).toEqual(["linkcrypt.mjs"]);
    const bin = join(prefix, "bin/linkcrypt");
    const run = (...args: string[]) =>
      spawnSync(bin, args, { cwd: work, encoding: "utf8", env: { ...process.env, LINKCRYPT_FROM_SOURCE: "" } });
    const v = run("--version");
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^linkcrypt 0\.\d+\.\d+ \([0-9a-f]{7,}(-dirty)?\)\n$/);
    const m = run("mtu", "--path-mtu", "1500", "--json");
    expect(m.status, m.stderr).toBe(0);
    expect(JSON.parse(m.stdout)).toHaveProperty("maxInnerMtu");
    // The bundled profiles are found from the installed copy.
    const p = run("plan", join(ROOT, "examples/two-site-dwdm.yaml"), "--json");
    expect(p.status, p.stderr).toBe(0);
    expect(JSON.parse(p.stdout).format).toBe("linkcrypt-plan");
  }, 300_000);
});
