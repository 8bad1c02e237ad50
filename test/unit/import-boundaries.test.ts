import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The layers of docs/architecture.md, checked on the import statements of src/ and drivers/. A known exception is
 * listed by name where it is allowed, so a new crossing fails here. Type-only imports (`import type`) carry no code and
 * are allowed across layers unless a rule says otherwise.
 */
const ROOT = resolve(dirname(new URL(import.meta.url).pathname), "../..");

interface Edge {
  from: string;
  /** A repo path ("src/planner/conn-spec.ts") or a package ("node:fs", "ssh2"). */
  to: string;
  typeOnly: boolean;
}

const IMPORT = /^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/gm;

function sources(): string[] {
  const out: string[] = [];
  for (const dir of ["src", "drivers"])
    for (const e of readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" }))
      if (/\.(ts|mjs)$/.test(e) && !e.includes("models/")) out.push(`${dir}/${e.split("\\").join("/")}`);
  return out;
}

function resolveSpec(from: string, spec: string): string {
  if (!spec.startsWith("."))
    return spec.startsWith("node:")
      ? spec
      : spec
          .split("/")
          .slice(0, spec.startsWith("@") ? 2 : 1)
          .join("/");
  const abs = resolve(ROOT, dirname(from), spec);
  const ts = abs.replace(/\.js$/, ".ts");
  return relative(ROOT, existsSync(ts) ? ts : abs)
    .split("\\")
    .join("/");
}

const FILES = sources();
const EDGES: Edge[] = FILES.flatMap((from) =>
  [...readFileSync(join(ROOT, from), "utf8").matchAll(IMPORT)].map((m) => ({
    from,
    to: resolveSpec(from, (m[2] ?? m[3])!),
    typeOnly: !!m[1],
  })),
);

const under = (path: string, ...prefixes: string[]) => prefixes.some((p) => path === p || path.startsWith(p.endsWith("/") ? p : `${p}/`));
const crossings = (fromLayer: string, test: (e: Edge) => boolean) =>
  EDGES.filter((e) => under(e.from, fromLayer) && test(e)).map((e) => `${e.from} -> ${e.to}${e.typeOnly ? " (type)" : ""}`);

/** Every file a layer's code loads (value imports, followed through other layers), from its own files. */
function closure(layer: string): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const todo = FILES.filter((f) => under(f, layer));
  while (todo.length) {
    const f = todo.pop()!;
    if (files.has(f)) continue;
    files.add(f);
    for (const e of EDGES)
      if (e.from === f && !e.typeOnly) {
        if (e.to.startsWith("src/") || e.to.startsWith("drivers/")) todo.push(e.to);
        else if (!packages.has(e.to)) packages.set(e.to, f);
      }
  }
  return { files, packages };
}

/** The layers that do I/O (devices, state, processes, the terminal). */
const IMPURE_LAYERS = [
  "src/cli",
  "src/apply",
  "src/state",
  "src/serve",
  "src/lab",
  "src/discover",
  "src/verify",
  "src/transport",
  "src/keys",
];

describe("architecture: import boundaries", () => {
  it("finds the sources and their imports", () => {
    expect(FILES.length).toBeGreaterThan(50);
    expect(EDGES.some((e) => e.from === "src/cli/program.ts" && e.to === "commander")).toBe(true);
  });

  it("src/planner is pure: loads no I/O module, no package but node:crypto, nothing from an impure layer or a driver", () => {
    const c = closure("src/planner");
    expect([...c.packages.keys()].filter((p) => p !== "node:crypto")).toEqual([]);
    expect([...c.files].filter((f) => under(f, ...IMPURE_LAYERS, "drivers", "src/render", "src/report"))).toEqual([]);
  });

  it("src/planner imports only the model, crypto and errors", () => {
    expect(crossings("src/planner", (e) => !under(e.to, "src/planner", "src/model", "src/crypto", "src/errors.ts", "node:crypto"))).toEqual(
      [],
    );
  });

  it("src/render is pure: no I/O module loaded (XML building through xml2js only), nothing from an impure layer", () => {
    const c = closure("src/render");
    expect([...c.packages.keys()].filter((p) => p !== "xml2js")).toEqual([]);
    expect([...c.files].filter((f) => under(f, ...IMPURE_LAYERS.filter((l) => l !== "src/transport"), "src/mesh", "src/report"))).toEqual(
      [],
    );
  });

  it("src/planner and src/render never import the mesh, the CLI, a transport or a driver's runtime (types from the contract aside)", () => {
    for (const layer of ["src/planner", "src/render"]) {
      expect(crossings(layer, (e) => !e.typeOnly && under(e.to, "src/mesh", "src/cli", "src/transport", "drivers"))).toEqual([]);
      expect(
        crossings(layer, (e) => e.typeOnly && under(e.to, "src/mesh", "src/cli", "drivers") && e.to !== "drivers/contract.ts"),
      ).toEqual([]);
    }
  });

  it("src/util is a leaf: it imports nothing from src/ or drivers/", () => {
    expect(FILES.filter((f) => under(f, "src/util")).length).toBeGreaterThan(0);
    expect(crossings("src/util", (e) => (e.to.startsWith("src/") || e.to.startsWith("drivers/")) && !under(e.to, "src/util"))).toEqual([]);
  });

  it("src/crypto is a leaf: it imports nothing", () => {
    expect(crossings("src/crypto", (e) => !under(e.to, "src/crypto"))).toEqual([]);
  });

  it("src/model never reaches into the CLI, apply, transports, the mesh, verify, report, state, serve or the lab", () => {
    expect(
      crossings("src/model", (e) =>
        under(
          e.to,
          "src/cli",
          "src/apply",
          "src/transport",
          "src/mesh",
          "src/verify",
          "src/report",
          "src/state",
          "src/serve",
          "src/lab",
          "src/discover",
        ),
      ),
    ).toEqual([]);
  });

  it("src/transport knows no domain: it imports only itself, the errors and src/util", () => {
    const UTIL = ["src/util"];
    expect(
      crossings(
        "src/transport",
        (e) => (e.to.startsWith("src/") || e.to.startsWith("drivers/")) && !under(e.to, "src/transport", "src/errors.ts", ...UTIL),
      ),
    ).toEqual([]);
  });

  it("drivers never load the CLI, apply, state, serve, the lab, the planner, the mesh, verify or report", () => {
    expect(
      crossings(
        "drivers",
        (e) =>
          !e.typeOnly &&
          under(e.to, "src/cli", "src/apply", "src/state", "src/serve", "src/lab", "src/planner", "src/mesh", "src/verify", "src/report"),
      ),
    ).toEqual([]);
  });

  it("drivers never import the registry (it imports them): they get what they need from drivers/contract.ts", () => {
    expect(crossings("drivers", (e) => e.to === "drivers/registry.ts" && e.from !== "drivers/registry.ts")).toEqual([]);
    expect(EDGES.some((e) => e.from === "drivers/registry.ts" && e.to === "drivers/eos-macsec/index.ts")).toBe(true);
  });

  it("a driver folder is reached only through the registry and the contract (and its pure parsers)", () => {
    const ok = (to: string) => to === "drivers/registry.ts" || to === "drivers/contract.ts" || /^drivers\/[^/]+\/parsers\//.test(to);
    expect(
      EDGES.filter((e) => !under(e.from, "drivers") && under(e.to, "drivers") && !ok(e.to)).map((e) => `${e.from} -> ${e.to}`),
    ).toEqual([]);
    expect(
      EDGES.filter((e) => {
        const [from, to] = [/^drivers\/([^/]+)\//.exec(e.from)?.[1], /^drivers\/([^/]+)\//.exec(e.to)?.[1]];
        return from && to && from !== to && to !== "shared";
      }).map((e) => `${e.from} -> ${e.to}`),
    ).toEqual([]);
  });

  it("only src/cli imports src/cli, and the lab is started only from the CLI", () => {
    expect(EDGES.filter((e) => under(e.to, "src/cli") && !under(e.from, "src/cli")).map((e) => `${e.from} -> ${e.to}`)).toEqual([]);
    expect(
      EDGES.filter((e) => !e.typeOnly && under(e.to, "src/lab") && !under(e.from, "src/lab", "src/cli")).map((e) => `${e.from} -> ${e.to}`),
    ).toEqual([]);
  });

  it("src/metrics and src/report load no transport, apply or CLI code", () => {
    for (const layer of ["src/metrics", "src/report"])
      expect(
        crossings(
          layer,
          (e) =>
            !e.typeOnly && under(e.to, "src/cli", "src/transport", "src/apply", "src/serve", "src/lab", "src/discover", "ssh2", "net-snmp"),
        ),
      ).toEqual([]);
  });
});
