import { stringify } from "yaml";
import { loadProfiles, type ProfileSet } from "../src/model/load-profiles.js";
import { parseInventory } from "../src/model/load-inventory.js";
import { buildPlan } from "../src/planner/build-plan.js";
import type { Plan } from "../src/planner/plan-types.js";
import type { Diagnostic } from "../src/model/diagnostics.js";

let cached: ProfileSet | undefined;
export function profiles(): ProfileSet {
  if (!cached) {
    const r = loadProfiles();
    if (!r.profiles) throw new Error(JSON.stringify(r.diagnostics));
    cached = r.profiles;
  }
  return cached;
}

type Obj = Record<string, unknown>;

export function sw(name: string, site: string, profile: string, ports: Obj[]): Obj {
  return { name, kind: "switch", site, profile, ports };
}
export function port(name: string, speed = "100G", mtu = 9000): Obj {
  return { name, speed, mtu };
}
export function host(name: string, site: string, nic: string, extra: Obj = {}): Obj {
  return {
    name,
    kind: "host",
    site,
    profile: "dell-r760-xeon-6430",
    role: "app",
    addresses: { ipv4: `10.0.${name.length}.${name.charCodeAt(name.length - 1)}` },
    nics: [{ name: "eth0", profile: nic, speed: "25G", mtu: 9000 }],
    ...extra,
  };
}

/** A two-site inventory with one link between two switches; `link` and `top` override fields. */
export function twoSite(link: Obj = {}, top: Obj = {}, switchProfile = "juniper-ptx10001-36mr"): Obj {
  return {
    version: 1,
    name: "t",
    policy: "default",
    sites: [{ name: "a" }, { name: "b" }],
    devices: [
      sw("a-sw", "a", switchProfile, [port("et-0/0/0"), port("Ethernet1")]),
      sw("b-sw", "b", switchProfile, [port("et-0/0/0"), port("Ethernet1")]),
    ],
    links: [{ name: "ab", a: "a-sw:et-0/0/0", b: "b-sw:et-0/0/0", medium: "dwdm", speed: "100G", pathMtu: 9216, ...link }],
    meshes: [],
    ...top,
  };
}

export function load(inv: Obj | string) {
  const text = typeof inv === "string" ? inv : stringify(inv);
  return parseInventory("test.yaml", text, profiles());
}

export function plan(inv: Obj | string): Plan {
  const r = load(inv);
  if (!r.model) throw new Error(`inventory not valid:\n${r.diagnostics.map((d) => `${d.path}: ${d.message}`).join("\n")}`);
  return buildPlan(r.model, { inventoryDigest: "test", profilesDigest: "test" }, r.diagnostics);
}

export function messages(diags: readonly Diagnostic[], severity?: Diagnostic["severity"]): string[] {
  return diags.filter((d) => !severity || d.severity === severity).map((d) => `${d.path}: ${d.message}`);
}
