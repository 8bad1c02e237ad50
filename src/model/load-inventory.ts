import { readFileSync } from "node:fs";
import { z } from "zod";
import type { Diagnostic } from "./diagnostics.js";
import { Inventory } from "./inventory-schema.js";
import type { ProfileSet } from "./load-profiles.js";
import type { Model } from "./model.js";
import { resolveInventory } from "./resolve.js";
import { schemaDiagnostics, schemaKeys } from "./schema-issues.js";
import { parseYamlSource } from "./yaml-source.js";

let knownKeys: Set<string> | undefined;

/** Read, parse, schema-check and resolve an inventory file. Never throws on bad input: everything is a diagnostic. */
export function loadInventory(file: string, profiles: ProfileSet): { model?: Model; data?: unknown; diagnostics: Diagnostic[] } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "ENOENT" ? "no such file" : err.code === "EISDIR" ? "it is a directory" : err.message;
    return { diagnostics: [{ severity: "error", code: "io.read", path: "(file)", message: `cannot read inventory ${file}: ${why}` }] };
  }
  return parseInventory(file, text, profiles);
}

export function parseInventory(file: string, text: string, profiles: ProfileSet): { model?: Model; data?: unknown; diagnostics: Diagnostic[] } {
  const { source, diagnostics } = parseYamlSource(file, text);
  if (!source) return { diagnostics };
  if (source.data === null || typeof source.data !== "object" || Array.isArray(source.data))
    return { diagnostics: [...diagnostics, { severity: "error", code: "schema.not-a-mapping", path: "(root)", message: `${file} must hold a YAML mapping with version, policy, sites, devices, links and meshes` }] };
  const parsed = Inventory.safeParse(source.data);
  if (!parsed.success) {
    knownKeys ??= schemaKeys(z.toJSONSchema(Inventory, { io: "input" }));
    return { diagnostics: [...diagnostics, ...schemaDiagnostics(parsed.error.issues, source, knownKeys)] };
  }
  const r = resolveInventory(parsed.data, profiles, (p) => source.locate(p));
  return { ...(r.model ? { model: r.model } : {}), data: parsed.data, diagnostics: [...diagnostics, ...r.diagnostics] };
}

