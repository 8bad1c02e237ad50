import { z } from "zod";
import type { DeviceFacts } from "../../drivers/contract.js";
import type { Diagnostic } from "./diagnostics.js";
import type { Model, ModelHost } from "./model.js";
import type { NicProfile } from "./profile-schema.js";

/**
 * The facts file `discover` writes and `plan --facts` reads: what each device said about itself, or why it could
 * not be asked. Observed facts override profile defaults; every disagreement is reported.
 *
 * Example: {"format":"linkcrypt-facts","version":1,"inventory":"lab","devices":{
 *   "h1":{"reachable":true,"driver":"linux-host","observedAt":"...","host":{"kernel":"6.18.44",...}},
 *   "sw9":{"reachable":false,"error":{"code":"E_CONNECT","message":"sw9: cannot connect to ..."}}}}
 */
export const FACTS_FORMAT = "linkcrypt-facts";

export interface UnreachableFacts {
  reachable: false;
  error: { code: string; message: string };
}

export interface FactsFile {
  format: typeof FACTS_FORMAT;
  version: 1;
  inventory: string;
  devices: Record<string, DeviceFacts | UnreachableFacts>;
}

const FactsFileSchema = z.object({
  format: z.literal(FACTS_FORMAT),
  version: z.literal(1),
  inventory: z.string(),
  devices: z.record(z.string(), z.looseObject({ reachable: z.boolean() })),
});

export function parseFactsFile(text: string, file: string): { facts?: FactsFile; diagnostics: Diagnostic[] } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return { diagnostics: [{ severity: "error", code: "facts.json", path: "(facts)", message: `${file} is not JSON: ${(e as Error).message}` }] };
  }
  const r = FactsFileSchema.safeParse(data);
  if (!r.success)
    return { diagnostics: r.error.issues.map((i) => ({ severity: "error" as const, code: "facts.schema", path: `(facts) ${i.path.join(".")}`, message: `${file}: ${i.message}` })) };
  return { facts: data as FactsFile, diagnostics: [] };
}

const OFFLOAD_DRIVERS_WORD: Record<string, string> = { "fixed-off": "off [fixed]", off: "off", absent: "absent (the kernel has no ESP offload feature)" };

/**
 * Pure: a copy of the model with host facts applied (CPU flags, kernel algorithms, NIC offload), plus one
 * diagnostic per conflict between inventory/profile and what the device said.
 */
export function applyFacts(model: Model, facts: FactsFile): { model: Model; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const note = (severity: Diagnostic["severity"], code: string, device: string, message: string) =>
    diagnostics.push({ severity, code, path: `devices.${device}`, message: `${device}: ${message}` });
  const hosts = new Map<string, ModelHost>();
  for (const [name, h] of model.hosts) {
    const f = facts.devices[name];
    if (!f) {
      hosts.set(name, h);
      continue;
    }
    if (!f.reachable) {
      note("warning", "facts.unreachable", name, `no facts (unreachable at discovery: ${f.error.message}); planning with profile defaults`);
      hosts.set(name, h);
      continue;
    }
    const hf = f.host;
    if (!hf) {
      hosts.set(name, h);
      continue;
    }
    const cpuFlags = [...hf.cpuFlags];
    for (const flag of ["aes", "vaes", "vpclmulqdq"]) {
      const inProfile = h.profile.cpu.flags.includes(flag);
      const seen = cpuFlags.includes(flag);
      if (inProfile !== seen)
        note("warning", "facts.cpu", name, `profile ${h.profile.name} says the CPU ${inProfile ? "has" : "lacks"} ${flag}; /proc/cpuinfo says it ${seen ? "has" : "lacks"} it`);
    }
    let nicProfile: NicProfile = h.nic.profile;
    const nf = hf.nics.find((n) => n.name === h.nic.name);
    if (!nf) note("warning", "facts.nic-missing", name, `NIC ${h.nic.name} from the inventory is not on the host (found: ${hf.nics.map((n) => n.name).join(", ") || "none"})`);
    else {
      if (nf.driver && nf.driver !== nicProfile.kernelDriver)
        note("warning", "facts.nic-driver", name, `inventory says ${h.nic.name} is ${nicProfile.model} (${nicProfile.kernelDriver}); ethtool -i says driver ${nf.driver}`);
      const claims = nicProfile.espOffload.modes.length > 0;
      if (claims && nf.espHwOffload !== "on") {
        note("warning", "facts.offload", name,
          `inventory says ${nicProfile.model} ${nicProfile.espOffload.modes.join("+")} offload; ethtool says esp-hw-offload ${OFFLOAD_DRIVERS_WORD[nf.espHwOffload]}` +
          (nf.espHwOffload === "off" ? ` on ${h.nic.name} (enable it with: ethtool -K ${h.nic.name} esp-hw-offload on); planning without offload until then` : "; planning without offload"));
        nicProfile = { ...nicProfile, espOffload: { ...nicProfile.espOffload, modes: [] } };
      } else if (!claims && nf.espHwOffload === "on") {
        note("info", "facts.offload", name, `ethtool says esp-hw-offload on for ${h.nic.name}, but profile ${nicProfile.name} lists no offload; planning without it`);
      }
    }
    const kernelAlgorithms = Object.keys(hf.kernelAlgorithms).filter((a) => !a.startsWith("__"));
    hosts.set(name, { ...h, cpuFlags, kernelAlgorithms, strongswanVersion: hf.strongswanVersion, nic: { ...h.nic, profile: nicProfile } });
  }
  for (const [name, f] of Object.entries(facts.devices))
    if (!model.hosts.has(name) && !model.switches.has(name) && !model.l1s.has(name))
      note("info", "facts.unknown-device", name, "facts for a device that is not in the inventory; ignored");
  const meshes = model.meshes.map((m) => ({ ...m, hosts: m.hosts.map((h) => hosts.get(h.name)!) }));
  return { model: { ...model, hosts, meshes }, diagnostics };
}
