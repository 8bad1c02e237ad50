import { createHash } from "node:crypto";
import { sortDiagnostics, type Diagnostic } from "../model/diagnostics.js";
import type { Model } from "../model/model.js";
import { decideLink } from "./decide-link.js";
import { planMesh } from "./plan-mesh.js";
import { PLAN_FORMAT, PLAN_VERSION, type LinkMethod, type LinkPlan, type MeshPlan, type Plan } from "./plan-types.js";
import { sitePathFinder } from "./site-paths.js";

export const GENERATOR = "linkcrypt 0.1.0";

/**
 * The planner: `plan(model) -> Plan`. Pure and synchronous: no I/O, no clock, no randomness. The digests identify
 * the inputs so that apply can refuse a plan made from an inventory or profiles that have since changed.
 */
export function buildPlan(model: Model, inputs: Plan["inputs"], inputDiagnostics: readonly Diagnostic[] = []): Plan {
  const diagnostics: Diagnostic[] = [...inputDiagnostics];
  const links: LinkPlan[] = [];
  for (const l of model.links) {
    const r = decideLink(l, model.meshes);
    links.push(r.plan);
    diagnostics.push(...r.diagnostics);
  }
  const byName = new Map(links.map((l) => [l.name, l]));
  const pathBetween = sitePathFinder(model.links, byName);
  const meshes: MeshPlan[] = [];
  for (const m of model.meshes) {
    const r = planMesh(m, model, pathBetween);
    meshes.push(r.plan);
    diagnostics.push(...r.diagnostics);
  }
  // A mesh-protected link uses the cipher most of its mesh's pairs ended up with.
  for (const l of links) {
    if (l.method !== "host-mesh") continue;
    const mesh = meshes.find((m) => m.name === l.mesh);
    const top = mesh?.pairClasses.filter((c) => c.cipher !== null).sort((x, y) => y.pairs - x.pairs)[0];
    if (top) l.cipher = top.cipher;
  }
  sortDiagnostics(diagnostics);
  const count = (m: LinkMethod) => links.filter((l) => l.method === m).length;
  return {
    format: PLAN_FORMAT,
    version: PLAN_VERSION,
    generator: GENERATOR,
    inventory: model.name,
    policy: model.policyName,
    inputs,
    summary: {
      links: { l1: count("l1"), macsec: count("macsec"), "host-mesh": count("host-mesh"), none: count("none"), refused: count("refused") },
      meshes: meshes.length,
      hosts: meshes.reduce((a, m) => a + m.hosts, 0),
      pairs: meshes.reduce((a, m) => a + m.pairs, 0),
      errors: diagnostics.filter((d) => d.severity === "error").length,
      warnings: diagnostics.filter((d) => d.severity === "warning").length,
    },
    links,
    meshes,
    diagnostics,
  };
}

/** sha256 of a value's canonical JSON (object keys sorted), as `sha256:<hex>`. */
export function digest(value: unknown): string {
  return `sha256:${createHash("sha256").update(canonicalJson(value)).digest("hex")}`;
}

function canonicalJson(v: unknown): string {
  if (v instanceof Map) return canonicalJson(Object.fromEntries([...v.entries()].sort(([a], [b]) => (a < b ? -1 : 1))));
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v !== null && typeof v === "object")
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(",")}}`;
  return JSON.stringify(v) ?? "null";
}
