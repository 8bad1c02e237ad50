import { z } from "zod";
import type { DeviceFacts } from "../../drivers/contract.js";
import type { Diagnostic } from "./diagnostics.js";
import type { FactsFile, UnreachableFacts } from "./facts.js";
import { depthOver } from "./json-depth.js";

/**
 * The whole facts file, checked before anything reads it: every field `applyFacts`, drift and discover's summary use,
 * with its type, so a hand-edited or truncated file is a diagnostic with a path instead of a TypeError. Unknown
 * extra fields are kept (a newer linkcrypt may add some). `devices` comes back without a prototype, so a device
 * named `toString` or `constructor` finds its own entry or none, never an inherited function.
 */
export const FACTS_MAX_DEPTH = 32;

const Offload = z.enum(["on", "off", "fixed-off", "absent"]);
const HostFacts = z.looseObject({
  kernel: z.string(),
  cpuFlags: z.array(z.string()),
  kernelAlgorithms: z.record(z.string(), z.array(z.string())),
  nics: z.array(z.looseObject({ name: z.string(), driver: z.string().optional(), espHwOffload: Offload, espTxCsumHwOffload: Offload })),
  strongswanVersion: z.string().optional(),
  xfrmStat: z.record(z.string(), z.number()).optional(),
});
const Reachable = z.looseObject({
  reachable: z.literal(true),
  device: z.string().optional(),
  driver: z.string(),
  observedAt: z.string(),
  system: z.looseObject({ description: z.string().optional(), name: z.string().optional(), version: z.string().optional() }).optional(),
  netconf: z.looseObject({ capabilities: z.array(z.string()), candidate: z.boolean(), confirmedCommit: z.boolean() }).optional(),
  macsecInterfaces: z.array(z.string()).optional(),
  l1: z
    .looseObject({
      status: z.string(),
      cipher: z.string(),
      keyAgeSeconds: z.number(),
      rotationIntervalSeconds: z.number(),
      keyGeneration: z.number(),
    })
    .optional(),
  host: HostFacts.optional(),
});
const Unreachable = z.looseObject({ reachable: z.literal(false), error: z.looseObject({ code: z.string(), message: z.string() }) });
const FactsFileSchema = z.object({
  format: z.literal("linkcrypt-facts"),
  version: z.literal(1),
  inventory: z.string(),
  devices: z.record(z.string(), z.discriminatedUnion("reachable", [Reachable, Unreachable])),
});

export function validateFactsFile(data: unknown, file: string): { facts?: FactsFile; diagnostics: Diagnostic[] } {
  const problem = (path: string, message: string): Diagnostic => ({
    severity: "error",
    code: "facts.schema",
    path: `(facts) ${path}`.trim(),
    message: `${file}: ${message}`,
  });
  if (depthOver(data, FACTS_MAX_DEPTH))
    return { diagnostics: [problem("", `nested deeper than ${FACTS_MAX_DEPTH} levels (the limit); not a linkcrypt facts file`)] };
  const r = FactsFileSchema.safeParse(data);
  if (!r.success) return { diagnostics: r.error.issues.slice(0, 50).map((i) => problem(i.path.map(String).join("."), i.message)) };
  const devices = Object.create(null) as Record<string, DeviceFacts | UnreachableFacts>;
  for (const [name, f] of Object.entries(r.data.devices)) devices[name] = f as unknown as DeviceFacts | UnreachableFacts;
  return { facts: { ...(r.data as unknown as FactsFile), devices }, diagnostics: [] };
}
