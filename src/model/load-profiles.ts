import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { z } from "zod";
import { driverDescriptor, driverNames } from "../../drivers/registry.js";
import { suggest, type Diagnostic } from "./diagnostics.js";
import {
  DeviceProfile,
  NicProfile,
  PolicyProfile,
  XfrmPerfProfile,
  type HostProfile,
  type L1EncryptorProfile,
  type SwitchProfile,
} from "./profile-schema.js";
import { schemaDiagnostics } from "./schema-issues.js";
import { parseYamlSource, type YamlSource } from "./yaml-source.js";

/** Every profile the planner can refer to, by name. Built by `loadProfiles`, read by the pure planner. */
export interface ProfileSet {
  switches: Map<string, SwitchProfile>;
  l1: Map<string, L1EncryptorProfile>;
  hosts: Map<string, HostProfile>;
  nics: Map<string, NicProfile>;
  policies: Map<string, PolicyProfile>;
  xfrmPerf: XfrmPerfProfile;
}

export const BUNDLED_PROFILES_DIR = fileURLToPath(new URL("../../profiles", import.meta.url));

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(name)) out.push(p);
  }
  return out;
}

/**
 * Reads the bundled profiles, then each extra directory in order; a later profile with the same name replaces an
 * earlier one, so a site can ship its own variant of a bundled model.
 */
export function loadProfiles(extraDirs: readonly string[] = []): { profiles?: ProfileSet; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const set = {
    switches: new Map(),
    l1: new Map(),
    hosts: new Map(),
    nics: new Map(),
    policies: new Map(),
  } as Omit<ProfileSet, "xfrmPerf">;
  let xfrmPerf: XfrmPerfProfile | undefined;

  for (const dir of [BUNDLED_PROFILES_DIR, ...extraDirs]) {
    let files: string[];
    try {
      files = yamlFiles(dir);
    } catch (e) {
      diagnostics.push({
        severity: "error",
        code: "profiles.unreadable",
        path: "(profiles)",
        message: `cannot read profile directory ${dir}: ${(e as Error).message}`,
      });
      continue;
    }
    for (const file of files) {
      const shown = relative(process.cwd(), file) || file;
      const { source, diagnostics: yd } = parseYamlSource(shown, readFileSync(file, "utf8"));
      diagnostics.push(...yd);
      if (!source) continue;
      const kind = (source.data as { kind?: unknown } | null)?.kind;
      // Policies carry no `kind`; everything else says what it is.
      const schema: z.ZodType =
        kind === undefined ? PolicyProfile : kind === "nic" ? NicProfile : kind === "xfrm-throughput" ? XfrmPerfProfile : DeviceProfile;
      const r = schema.safeParse(source.data);
      if (!r.success) {
        diagnostics.push(...schemaDiagnostics(r.error.issues, source, new Set()).map((d) => ({ ...d, path: `${shown}: ${d.path}` })));
        continue;
      }
      const p = r.data as { kind?: string; name?: string; driver?: string };
      // A misspelled driver would pass validate and plan and fail only when apply or discover reach the device.
      if (schema === DeviceProfile && p.driver !== undefined) diagnostics.push(...checkDriver(p as DriverNaming, source, shown));
      if (schema === PolicyProfile) set.policies.set(p.name!, r.data as never);
      else if (p.kind === "nic") set.nics.set(p.name!, r.data as never);
      else if (p.kind === "xfrm-throughput") xfrmPerf = r.data as XfrmPerfProfile;
      else if (p.kind === "switch") set.switches.set(p.name!, r.data as never);
      else if (p.kind === "l1-encryptor") set.l1.set(p.name!, r.data as never);
      else if (p.kind === "host") set.hosts.set(p.name!, r.data as never);
    }
  }
  if (!xfrmPerf) {
    diagnostics.push({
      severity: "error",
      code: "profiles.missing",
      path: "(profiles)",
      message: "no xfrm-throughput profile found (profiles/perf/xfrm-throughput.yaml)",
    });
    return { diagnostics };
  }
  return { profiles: { ...set, xfrmPerf }, diagnostics };
}

interface DriverNaming {
  kind: "switch" | "l1-encryptor" | "host";
  driver: string;
  options?: Record<string, unknown>;
}

/**
 * The profile's `driver:` against the registry (the names accepted are the registry's, nothing else), the profile's
 * kind against the kind the driver drives, and its `options:` against the driver's own schema, whose parsed value
 * (defaults filled in) replaces them. Each error names the file, the field and the value.
 */
function checkDriver(p: DriverNaming, source: YamlSource, shown: string): Diagnostic[] {
  const d = driverDescriptor(p.driver);
  const at = source.locate(["driver"]);
  const where = at ? { source: at } : {};
  if (!d) {
    const hint = suggest(p.driver, driverNames());
    return [
      {
        severity: "error",
        code: "profile.driver",
        path: `${shown}: driver`,
        message: `"${p.driver}" is not a driver of this version (drivers: ${driverNames().join(", ")})${hint ? `; did you mean "${hint}"?` : ""}`,
        ...where,
      },
    ];
  }
  if (d.kind !== p.kind)
    return [
      {
        severity: "error",
        code: "profile.driver",
        path: `${shown}: driver`,
        message: `"${p.driver}" drives a ${d.kind}, not a ${p.kind} (kind: ${p.kind})`,
        ...where,
      },
    ];
  const r = d.optionsSchema.safeParse(p.options ?? {});
  if (!r.success)
    return schemaDiagnostics(
      r.error.issues.map((i) => ({ ...i, path: ["options", ...i.path] })),
      source,
      new Set(),
    ).map((x) => ({ ...x, path: `${shown}: ${x.path}`, message: `driver ${p.driver}: ${x.message}` }));
  if (p.options !== undefined) p.options = r.data as Record<string, unknown>;
  return [];
}
