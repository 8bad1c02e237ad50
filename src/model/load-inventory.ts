import { z } from "zod";
import type { Diagnostic } from "./diagnostics.js";
import { Device, Inventory, Link, Mesh, Site } from "./inventory-schema.js";
import type { ProfileSet } from "./load-profiles.js";
import type { Model } from "./model.js";
import { resolveInventory } from "./resolve.js";
import { schemaDiagnostics, schemaKeys } from "./schema-issues.js";
import { parseYamlSource } from "./yaml-source.js";
import { readBounded } from "../util/read-bounded.js";

let knownKeys: Set<string> | undefined;

/** Read, parse, schema-check and resolve an inventory file. Never throws on bad input: everything is a diagnostic. */
export function loadInventory(file: string, profiles: ProfileSet): { model?: Model; data?: unknown; diagnostics: Diagnostic[] } {
  let text: string;
  try {
    text = readBounded(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "ENOENT" ? "no such file" : err.code === "EISDIR" ? "it is a directory" : err.message;
    return { diagnostics: [{ severity: "error", code: "io.read", path: "(file)", message: `cannot read inventory ${file}: ${why}` }] };
  }
  return parseInventory(file, text, profiles);
}

export function parseInventory(
  file: string,
  text: string,
  profiles: ProfileSet,
): { model?: Model; data?: unknown; diagnostics: Diagnostic[] } {
  const { source, diagnostics } = parseYamlSource(file, text);
  if (!source) return { diagnostics };
  if (source.data === null || typeof source.data !== "object" || Array.isArray(source.data))
    return {
      diagnostics: [
        ...diagnostics,
        {
          severity: "error",
          code: "schema.not-a-mapping",
          path: "(root)",
          message: `${file} must hold a YAML mapping with version, policy, sites, devices, links and meshes`,
        },
      ],
    };
  const parsed = Inventory.safeParse(source.data);
  if (!parsed.success) {
    knownKeys ??= schemaKeys(z.toJSONSchema(Inventory, { io: "input" }));
    const schemaDiags = schemaDiagnostics(parsed.error.issues, source, knownKeys);
    return {
      diagnostics: [
        ...diagnostics,
        ...schemaDiags,
        ...lenientResolve(source.data as Record<string, unknown>, profiles, (p) => source.locate(p)),
      ],
    };
  }
  const r = resolveInventory(parsed.data, profiles, (p) => source.locate(p));
  return { ...(r.model ? { model: r.model } : {}), data: parsed.data, diagnostics: [...diagnostics, ...r.diagnostics] };
}

const ELEMENTS = { sites: Site, devices: Device, links: Link, meshes: Mesh } as const;

/**
 * After schema errors, still check references among the entries that did parse, so that one run reports every
 * problem. Entries that failed are skipped, and references to their names are not reported as unknown.
 */
function lenientResolve(
  data: Record<string, unknown>,
  profiles: ProfileSet,
  locate: (p: readonly (string | number)[]) => string | undefined,
): Diagnostic[] {
  if (typeof data.policy !== "string") return [];
  const skip = new Set<string>();
  const partial: Record<string, unknown> = { ...data };
  for (const [key, schema] of Object.entries(ELEMENTS)) {
    const list = Array.isArray(data[key]) ? (data[key] as unknown[]) : [];
    partial[key] = list.map((item, i) => {
      const r = schema.safeParse(item);
      if (r.success) return r.data;
      skip.add(`${key}[${i}]`);
      return item;
    });
  }
  try {
    return resolveInventory(partial as Inventory, profiles, locate, skip).diagnostics;
  } catch {
    return []; // a malformed entry the skip list did not cover; the schema errors already say what is wrong
  }
}
