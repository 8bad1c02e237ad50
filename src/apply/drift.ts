import type { DeviceFacts } from "../../drivers/contract.js";
import type { FactsFile } from "../model/facts.js";
import type { MeshPlan, Plan } from "../planner/plan-types.js";

/**
 * Pure: what changed between the facts a plan was made from and the facts observed now, limited to what the planner
 * and apply rely on (reachability, CPU crypto flags, kernel ESP algorithms, NIC offload, strongSwan version, NETCONF
 * candidate/confirmed-commit). Each entry names the device and the field: "h1: cpu flag aes: present -> absent".
 */
export function factsDrift(then: FactsFile, now: FactsFile): string[] {
  const out: string[] = [];
  const names = [...new Set([...Object.keys(then.devices), ...Object.keys(now.devices)])].sort();
  for (const name of names) {
    const a = then.devices[name];
    const b = now.devices[name];
    if (!a || !b) {
      out.push(`${name}: ${a ? "no longer discovered" : "newly discovered"}`);
      continue;
    }
    if (a.reachable !== b.reachable) {
      out.push(`${name}: reachable: ${a.reachable} -> ${b.reachable}`);
      continue;
    }
    if (!a.reachable || !b.reachable) continue;
    const change = (field: string, x: unknown, y: unknown) => {
      if (JSON.stringify(x) !== JSON.stringify(y)) out.push(`${name}: ${field}: ${show(x)} -> ${show(y)}`);
    };
    const fa = a as DeviceFacts;
    const fb = b as DeviceFacts;
    change("driver", fa.driver, fb.driver);
    if (fa.host || fb.host) {
      for (const flag of ["aes", "vaes", "vpclmulqdq"])
        change(
          `cpu flag ${flag}`,
          fa.host?.cpuFlags.includes(flag) ? "present" : "absent",
          fb.host?.cpuFlags.includes(flag) ? "present" : "absent",
        );
      const algs = (f: DeviceFacts) => Object.keys(f.host?.kernelAlgorithms ?? {}).filter((k) => !k.startsWith("__"));
      const [ka, kb] = [algs(fa), algs(fb)];
      for (const k of ka.filter((x) => !kb.includes(x))) out.push(`${name}: kernel algorithm ${k}: gone`);
      for (const k of kb.filter((x) => !ka.includes(x))) out.push(`${name}: kernel algorithm ${k}: new`);
      change("strongSwan version", fa.host?.strongswanVersion, fb.host?.strongswanVersion);
      const nics = [...new Set([...(fa.host?.nics ?? []), ...(fb.host?.nics ?? [])].map((n) => n.name))].sort();
      for (const nic of nics) {
        const na = fa.host?.nics.find((n) => n.name === nic);
        const nb = fb.host?.nics.find((n) => n.name === nic);
        if (!na || !nb) out.push(`${name}: NIC ${nic}: ${na ? "gone" : "new"}`);
        else {
          change(`NIC ${nic} driver`, na.driver, nb.driver);
          change(`NIC ${nic} esp-hw-offload`, na.espHwOffload, nb.espHwOffload);
        }
      }
    }
    if (fa.netconf || fb.netconf) {
      change("NETCONF :candidate", fa.netconf?.candidate, fb.netconf?.candidate);
      change("NETCONF :confirmed-commit", fa.netconf?.confirmedCommit, fb.netconf?.confirmedCommit);
    }
  }
  return out;
}

/** The parts of a mesh plan named on their own when they differ; everything else is "settings". */
const MESH_PARTS = ["hostClasses", "pathClasses", "pairClasses", "members", "ike"] as const;

/** Pure: the links and mesh parts whose planned decisions differ (inputs, digests and diagnostics aside). */
export function planDrift(saved: Plan, fresh: Plan): string[] {
  const out: string[] = [];
  const byName = <T extends { name: string }>(xs: T[]) => new Map(xs.map((x) => [x.name, x]));
  const [la, lb] = [byName(saved.links), byName(fresh.links)];
  for (const name of [...new Set([...la.keys(), ...lb.keys()])].sort())
    if (JSON.stringify(la.get(name)) !== JSON.stringify(lb.get(name))) out.push(`link ${name}`);
  const [ma, mb] = [byName(saved.meshes), byName(fresh.meshes)];
  for (const name of [...new Set([...ma.keys(), ...mb.keys()])].sort()) {
    const a = ma.get(name);
    const b = mb.get(name);
    if (!a || !b) {
      out.push(`mesh ${name}`);
      continue;
    }
    const parts = MESH_PARTS.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
    const settings = (m: MeshPlan) => JSON.stringify({ ...m, ...Object.fromEntries(MESH_PARTS.map((k) => [k, null])) });
    const rest = settings(a) !== settings(b);
    if (parts.length || rest) out.push(`mesh ${name} (${[...parts, ...(rest ? ["settings"] : [])].join(", ")})`);
  }
  return out;
}

const show = (v: unknown) => (v === undefined ? "unknown" : typeof v === "string" ? v : JSON.stringify(v));
