import { createHash } from "node:crypto";
import { sortDiagnostics, type Diagnostic } from "../model/diagnostics.js";
import type { Model } from "../model/model.js";
import type { EspCipherId } from "../crypto/esp-ciphers.js";
import { decideLink, meshLinkMtu, type MeshCrossing } from "./decide-link.js";
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
  // A mesh-protected link: the cipher most of the pairs crossing it were planned with, and a budget every one of
  // those pairs fits (each connection proposes only its planned cipher, so other ciphers never cross the link).
  const meshLinks = links.filter((l) => l.method === "host-mesh");
  if (meshLinks.length > 0) {
    const modelLinks = new Map(model.links.map((l) => [l.name, l]));
    for (const [mi, mesh] of meshes.entries()) {
      const mine = meshLinks.filter((l) => l.mesh === mesh.name);
      if (mine.length === 0) continue;
      const onPath = new Map(mesh.pathClasses.map((p) => [p.id, new Set(p.links.flat())]));
      for (const l of mine) {
        const crossing = mesh.pairClasses.filter((c) => c.method === "esp" && c.cipher !== null && onPath.get(c.pathClass)!.has(l.name));
        if (crossing.length === 0) {
          l.reasons.push(
            `no planned pair's path crosses this link, so its MTU budget is the mesh's worst cipher (${l.mtu.layers.map((x) => x.layer).join(", ")})`,
          );
          continue;
        }
        const byCipher = new Map<string, number>();
        for (const c of crossing) byCipher.set(c.cipher!, (byCipher.get(c.cipher!) ?? 0) + c.pairs);
        const top = [...byCipher].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))[0]![0];
        l.cipher = top;
        const ml = modelLinks.get(l.name)!;
        const ways = new Map<string, MeshCrossing>(); // distinct (cipher, NAT-T, families): many classes share one
        for (const c of crossing) {
          const k = `${c.cipher}|${c.natT}|${c.families.join(",")}`;
          if (!ways.has(k))
            ways.set(k, { cipher: c.cipher as EspCipherId, natT: c.natT, families: c.families.map((f) => (f === "ipv4" ? 4 : 6)) });
        }
        l.mtu = meshLinkMtu(model.meshes[mi]!, ml, [...ways.values()]);
        const ciphers = [...byCipher.keys()];
        l.reasons.push(
          `MTU budget for the pairs that cross this link (${crossing.reduce((a, c) => a + c.pairs, 0)} pair(s), ${ciphers.join(", ")})` +
            (l.mtu.pathMtu < ml.pathMtu
              ? ` over ${l.mtu.pathMtu} bytes: the end ports' IP MTU, below the ${ml.pathMtu}-byte path MTU`
              : ` over the ${ml.pathMtu}-byte path MTU`),
        );
      }
    }
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

/**
 * sha256 of a value's canonical JSON (object keys sorted), as `sha256:<hex>`. The JSON is fed to the hash in pieces,
 * never built as one string: a 10,000-host facts file would otherwise be tens of megabytes of intermediate strings.
 */
export function digest(value: unknown): string {
  const hash = createHash("sha256");
  let pending: string[] = [];
  let size = 0;
  const emit = (s: string) => {
    pending.push(s);
    size += s.length;
    if (size > 1 << 16) {
      hash.update(pending.join(""));
      pending = [];
      size = 0;
    }
  };
  const walk = (v: unknown): void => {
    if (v instanceof Map) return walk(Object.fromEntries([...v.entries()].sort(([a], [b]) => (a < b ? -1 : 1))));
    if (Array.isArray(v)) {
      emit("[");
      v.forEach((x, i) => {
        if (i > 0) emit(",");
        walk(x);
      });
      return void emit("]");
    }
    if (v !== null && typeof v === "object") {
      emit("{");
      Object.keys(v)
        .sort()
        .forEach((k, i) => {
          emit(`${i > 0 ? "," : ""}${JSON.stringify(k)}:`);
          walk((v as Record<string, unknown>)[k]);
        });
      return void emit("}");
    }
    emit(JSON.stringify(v) ?? "null");
  };
  walk(value);
  hash.update(pending.join(""));
  return `sha256:${hash.digest("hex")}`;
}
