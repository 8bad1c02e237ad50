#!/usr/bin/env node
// Entry point. It runs dist/linkcrypt.mjs, the CLI bundled once by scripts/build.mjs (at `npm ci`, `npm install`
// in a checkout and `npm pack`), so a start does not compile TypeScript. Without a bundle, or in a checkout whose
// sources changed after the bundle was built, it runs the TypeScript sources through tsx (development), so a stale
// bundle never runs. LINKCRYPT_FROM_SOURCE=1 forces the sources, LINKCRYPT_FROM_SOURCE=0 the bundle.
import { existsSync, readdirSync, statSync } from "node:fs";

const root = new URL("../", import.meta.url);
const bundle = new URL("dist/linkcrypt.mjs", root);

/** True when a file or directory under one of dirs changed after `since` (ms); a deleted file changes its directory. */
function changedSince(since, dirs) {
  for (const dir of dirs) {
    const base = new URL(dir, root);
    if (!existsSync(base)) continue;
    if (statSync(base).mtimeMs > since) return true;
    for (const e of readdirSync(base, { recursive: true, withFileTypes: true })) {
      if (!e.isDirectory() && !/\.(ts|mjs|js|json)$/.test(e.name)) continue;
      if (statSync(`${e.parentPath ?? e.path}/${e.name}`).mtimeMs > since) return true;
    }
  }
  return false;
}

function bundleUsable() {
  const force = process.env.LINKCRYPT_FROM_SOURCE;
  if (force === "1") return false;
  let built;
  try {
    built = statSync(bundle).mtimeMs;
  } catch {
    return false;
  }
  if (force === "0") return true;
  // An installed copy has no .git: its bundle is what was packed. A checkout's may be older than its sources.
  if (!existsSync(new URL(".git", root))) return true;
  return !changedSince(built, ["src/", "drivers/"]);
}

if (bundleUsable()) {
  // Node 22.1+: V8 keeps the compiled bundle on disk, so later starts skip most of the compile.
  const { default: mod } = await import("node:module");
  mod.enableCompileCache?.();
  await import(bundle.href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli/main.ts");
}
