#!/usr/bin/env node
// Builds dist/linkcrypt.mjs: the CLI as one ESM file, so a start does not compile TypeScript (issue 13).
// Run by `npm run build`, and by `prepare` (npm ci, npm install in a checkout, npm pack).
// The version and git commit are embedded; the dependencies that are native or large stay external.
import { execFileSync } from "node:child_process";
import { readFileSync, renameSync, rmSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outfile = resolve(root, "dist/linkcrypt.mjs");

let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  // An install without devDependencies (npm ci --omit=dev): the bin runs the sources through tsx instead.
  console.error("linkcrypt build: esbuild is not installed; skipping the bundle (bin/linkcrypt.js will use tsx)");
  process.exit(0);
}

const pkg = JSON.parse(readFileSync(resolve(root, "package.json"), "utf8"));
const git = (...args) => {
  try {
    return execFileSync("git", ["-C", root, ...args], { stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
  } catch {
    return "";
  }
};
const head = git("rev-parse", "--short=12", "HEAD");
// Uncommitted changes to tracked files mean the bundle is not exactly that commit: say so.
const dirty = head && git("status", "--porcelain", "--untracked-files=no") !== "" ? "-dirty" : "";
const commit = process.env.LINKCRYPT_COMMIT || (head ? `${head}${dirty}` : "unknown commit");

// Sources find their data files (profiles/, src/lab/models/, the lab scripts) relative to import.meta.url. In one
// bundle every module shares the bundle's URL, so each source file gets its own URL back, relative to the bundle:
// the package ships src/ and profiles/ beside dist/, so those paths hold in a checkout and in an install.
const ownUrl = {
  name: "own-import-meta-url",
  setup(build) {
    build.onLoad({ filter: /\.(ts|mjs)$/ }, (args) => {
      if (args.path.includes(`${"/"}node_modules${"/"}`)) return undefined;
      const text = readFileSync(args.path, "utf8");
      if (!text.includes("import.meta.url")) return undefined;
      const rel = relative(dirname(outfile), args.path).split("\\").join("/");
      return {
        contents: text.replaceAll("import.meta.url", `new URL(${JSON.stringify(rel)}, import.meta.url).href`),
        loader: args.path.endsWith(".ts") ? "ts" : "js",
      };
    });
  },
};

// The transports and stores import ssh2, net-snmp, pg and better-sqlite3 at the top of their modules; loaded eagerly,
// those cost a few hundred milliseconds at every start, even for `--version`. In the bundle each of them is a stand-in
// that loads the real package on first use (a property read, a call or `new`), so a verb pays only for what it uses.
const LAZY = { ssh2: ["Client"], "net-snmp": [], pg: [], "better-sqlite3": [] };
const lazyDeps = {
  name: "lazy-heavy-deps",
  setup(build) {
    build.onResolve({ filter: /^(ssh2|net-snmp|pg|better-sqlite3|@viz-js\/viz)$/ }, (args) =>
      args.importer.includes(`${"/"}node_modules${"/"}`) || args.namespace === "lazy" ? undefined : { path: args.path, namespace: "lazy" },
    );
    build.onLoad({ filter: /.*/, namespace: "lazy" }, (args) => {
      // @viz-js/viz is ESM and its one export is async already: import it when first called.
      if (args.path === "@viz-js/viz")
        return { contents: 'export const instance = (...a) => import("@viz-js/viz").then((m) => m.instance(...a));', loader: "js" };
      const names = LAZY[args.path];
      const lines = [
        'import { createRequire } from "node:module";',
        "const load = ((m) => () => (m ??= createRequire(import.meta.url)(" + JSON.stringify(args.path) + ")))();",
        "const lazy = (pick) => {",
        "  const proxy = new Proxy(function () {}, {",
        "    get: (_, k) => Reflect.get(pick(), k),",
        "    set: (_, k, v) => Reflect.set(pick(), k, v),",
        "    has: (_, k) => Reflect.has(pick(), k),",
        "    apply: (_, self, args) => Reflect.apply(pick(), self, args),",
        "    construct: (_, args, nt) => Reflect.construct(pick(), args, nt === proxy ? pick() : nt),",
        "    getPrototypeOf: () => Reflect.getPrototypeOf(pick()),",
        "  });",
        "  return proxy;",
        "};",
        "export default lazy(load);",
        ...names.map((n) => `export const ${n} = lazy(() => load().${n});`),
      ];
      return { contents: lines.join("\n"), loader: "js", resolveDir: root };
    });
  },
};

// Written beside the bundle and renamed over it, so a linkcrypt starting during a rebuild never reads half a file.
const tmp = `${outfile}.tmp-${process.pid}`;
await esbuild.build({
  entryPoints: [resolve(root, "src/cli/main.ts")],
  outfile: tmp,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // Native addons and large packages load from node_modules as usual; tsx is only the development fallback.
  external: ["ssh2", "cpu-features", "net-snmp", "better-sqlite3", "pg", "pg-native", "@viz-js/viz", "tsx", "esbuild"],
  // Bundled CommonJS packages may call require(); give the ESM bundle one.
  banner: { js: 'import { createRequire as __lcCreateRequire } from "node:module";\nconst require = __lcCreateRequire(import.meta.url);' },
  define: { LINKCRYPT_BUILD: JSON.stringify({ version: pkg.version, commit }) },
  plugins: [lazyDeps, ownUrl],
  legalComments: "none",
  logLevel: "warning",
});
renameSync(tmp, outfile);
rmSync(`${outfile}.map`, { force: true }); // from older builds that wrote one
console.error(`linkcrypt build: ${relative(root, outfile)} (${pkg.version}, ${commit})`);
