import type { DeviceFacts } from "../../drivers/contract.js";
import type { Diagnostic } from "./diagnostics.js";
import { validateFactsFile } from "./facts-file.js";
import type { Model, ModelHost } from "./model.js";
import type { NicProfile } from "./profile-schema.js";
import type { MacsecDeviceLimits } from "../../drivers/contract.js";
import { macsecDeviceLimits } from "../../drivers/registry.js";

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

export function parseFactsFile(text: string, file: string): { facts?: FactsFile; diagnostics: Diagnostic[] } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return {
      diagnostics: [{ severity: "error", code: "facts.json", path: "(facts)", message: `${file} is not JSON: ${(e as Error).message}` }],
    };
  }
  return validateFactsFile(data, file); // the whole file's schema: src/model/facts-file.ts
}

const OFFLOAD_DRIVERS_WORD: Record<string, string> = {
  "fixed-off": "off [fixed]",
  off: "off",
  absent: "absent (the kernel has no ESP offload feature)",
};

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
    const cpuFlags = hf.cpuFlags; // read-only from here on: no copy per host
    for (const flag of ["aes", "vaes", "vpclmulqdq"]) {
      const inProfile = h.profile.cpu.flags.includes(flag);
      const seen = cpuFlags.includes(flag);
      if (inProfile !== seen)
        note(
          "warning",
          "facts.cpu",
          name,
          `profile ${h.profile.name} says the CPU ${inProfile ? "has" : "lacks"} ${flag}; /proc/cpuinfo says it ${seen ? "has" : "lacks"} it`,
        );
    }
    let nicProfile: NicProfile = h.nic.profile;
    const nf = hf.nics.find((n) => n.name === h.nic.name);
    if (!nf)
      note(
        "warning",
        "facts.nic-missing",
        name,
        `NIC ${h.nic.name} from the inventory is not on the host (found: ${hf.nics.map((n) => n.name).join(", ") || "none"})`,
      );
    else {
      if (nf.driver && nf.driver !== nicProfile.kernelDriver)
        note(
          "warning",
          "facts.nic-driver",
          name,
          `inventory says ${h.nic.name} is ${nicProfile.model} (${nicProfile.kernelDriver}); ethtool -i says driver ${nf.driver}`,
        );
      const claims = nicProfile.espOffload.modes.length > 0;
      if (claims && nf.espHwOffload !== "on") {
        note(
          "warning",
          "facts.offload",
          name,
          `inventory says ${nicProfile.model} ${nicProfile.espOffload.modes.join("+")} offload; ethtool says esp-hw-offload ${OFFLOAD_DRIVERS_WORD[nf.espHwOffload]}` +
            (nf.espHwOffload === "off"
              ? ` on ${h.nic.name} (enable it with: ethtool -K ${h.nic.name} esp-hw-offload on); planning without offload until then`
              : "; planning without offload"),
        );
        nicProfile = { ...nicProfile, espOffload: { ...nicProfile.espOffload, modes: [] } };
      } else if (!claims && nf.espHwOffload === "on") {
        note(
          "info",
          "facts.offload",
          name,
          `ethtool says esp-hw-offload on for ${h.nic.name}, but profile ${nicProfile.name} lists no offload; planning without it`,
        );
      }
    }
    const kernelAlgorithms = Object.keys(hf.kernelAlgorithms).filter((a) => !a.startsWith("__"));
    hosts.set(name, { ...h, cpuFlags, kernelAlgorithms, strongswanVersion: hf.strongswanVersion, nic: { ...h.nic, profile: nicProfile } });
  }
  for (const [name, _f] of Object.entries(facts.devices))
    if (!model.hosts.has(name) && !model.switches.has(name) && !model.l1s.has(name))
      note("info", "facts.unknown-device", name, "facts for a device that is not in the inventory; ignored");
  const meshes = model.meshes.map((m) => ({ ...m, hosts: m.hosts.map((h) => hosts.get(h.name)!) }));
  const { switches, links } = applySwitchFacts(model, facts, note);
  return { model: { ...model, hosts, meshes, switches, links }, diagnostics };
}

/**
 * MACsec switches: what the device said (module revisions in its NETCONF hello, Junos product model) limits what
 * can be planned on it, by the same rules the drivers apply before sending (each driver's `macsecLimits`, through drivers/registry.ts):
 * suites it cannot be set to are taken off its ports, and a link that needs what the device cannot be told (the SCI
 * on openconfig-macsec before 1.2.0; any key on openconfig-keychain 0.3.0 and older) is an error naming both.
 */
function applySwitchFacts(
  model: Model,
  facts: FactsFile,
  note: (severity: Diagnostic["severity"], code: string, device: string, message: string) => void,
): { switches: Model["switches"]; links: Model["links"] } {
  const switches = new Map(model.switches);
  const limits = new Map<string, MacsecDeviceLimits>();
  for (const [name, s] of model.switches) {
    const f = facts.devices[name];
    if (!f?.reachable) continue;
    const lim = macsecDeviceLimits(s.profile.driver, f);
    if (!lim) continue;
    limits.set(name, lim);
    if (!lim.suites) continue;
    const keep = lim.suites;
    const ports = new Map(
      [...s.ports].map(([pn, p]) => {
        if (!p.macsec) return [pn, p] as const;
        const suites = p.macsec.suites.filter((x) => keep.includes(x));
        if (suites.length < p.macsec.suites.length)
          note(
            "warning",
            "facts.macsec-suites",
            name,
            `profile ${s.profile.name} lists ${p.macsec.suites.join("/")} on ${pn}; the device (${lim.source}) can be set only to ${keep.join("/")}; planning with ${suites.join("/") || "none"}`,
          );
        return [pn, { ...p, macsec: { ...p.macsec, suites } }] as const;
      }),
    );
    switches.set(name, { ...s, ports });
  }
  const links = model.links.map((l) => {
    const a = switches.get(l.a.device)?.ports.get(l.a.port.name) ?? l.a.port;
    const b = switches.get(l.b.device)?.ports.get(l.b.port.name) ?? l.b.port;
    // Links that can only be MACsec (pinned, or no L1 encryptors on them): elsewhere the planner may pick L1.
    if (l.methods.includes("macsec") && (l.pinnedMethod === "macsec" || (l.pinnedMethod === undefined && l.encryptors.length === 0)))
      for (const end of [l.a, l.b]) {
        const lim = limits.get(end.device);
        if (!lim || !end.port.macsec) continue;
        if (lim.blocked)
          note(
            "error",
            "facts.macsec-keys",
            end.device,
            `link ${l.name}: MACsec cannot be configured on this device (${lim.source}): ${lim.blocked}`,
          );
        else if (!lim.sciSettable && !l.omitSci)
          note(
            "error",
            "facts.macsec-sci",
            end.device,
            `link ${l.name}: MACsec would include the SCI, but the device (${lim.source}) has no include-sci leaf, so linkcrypt cannot set it; ` +
              "set macsecOmitSci on the link (the device then decides) or upgrade it to openconfig-macsec 1.2.0",
          );
      }
    return a === l.a.port && b === l.b.port ? l : { ...l, a: { ...l.a, port: a }, b: { ...l.b, port: b } };
  });
  return { switches, links };
}
