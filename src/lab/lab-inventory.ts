import { join } from "node:path";
import { stringify } from "yaml";
import type { HostEntry, Inventory, L1Entry, MeshEntry, SwitchEntry } from "../model/inventory-schema.js";
import type { Model } from "../model/model.js";
import type { LabEncryptor, LabHost, LabState, LabSwitch } from "./lab.js";

/**
 * Pure: what `lab up INVENTORY` builds from an inventory, and the inventory it writes back, pointed at the lab.
 * Nothing here starts a process or touches a file; `labUpFromInventory` in lab.ts does, with these.
 */

/** The names of the hosts that are in some mesh of a resolved inventory: the only hosts a lab needs. */
export function meshHostNames(model: Model): Set<string> {
  return new Set(model.meshes.flatMap((m) => m.hosts.map((h) => h.name)));
}

/** The devices a lab stands up for an inventory, in inventory order: its mesh hosts, every switch, every L1 encryptor. */
export function labDeviceNames(
  inv: Inventory,
  meshHosts: ReadonlySet<string>,
): { hosts: string[]; switches: string[]; encryptors: string[] } {
  return {
    hosts: inv.devices.filter((d) => d.kind === "host" && meshHosts.has(d.name)).map((d) => d.name),
    switches: inv.devices.filter((d) => d.kind === "switch").map((d) => d.name),
    encryptors: inv.devices.filter((d) => d.kind === "l1-encryptor").map((d) => d.name),
  };
}

/** `known_hosts` for the lab's switches: one line each, the file ending in a newline. */
export function labKnownHosts(state: LabState): string {
  return `${(state.switches ?? []).map((s) => s.knownHostsLine).join("\n")}\n`;
}

/** `secrets.yaml` for the lab's encryptors: `<name>-auth` and `<name>-priv`, their SNMPv3 keys. */
export function labSecrets(state: LabState): string {
  return stringify(
    Object.fromEntries(
      (state.encryptors ?? []).flatMap((e) => [
        [`${e.name}-auth`, e.v3.authKey],
        [`${e.name}-priv`, e.v3.privKey],
      ]),
    ),
  );
}

/** Where the lab writes what the lab inventory refers to. */
export interface LabFiles {
  /** The lab directory as given (the CA paths are under it). */
  dir: string;
  /** The mesh master key file written for the lab. */
  keyFile: string;
}

/**
 * The inventory pointed at a running lab: the same sites and links; switches become netconfd switches (their ports
 * kept), encryptors the lab's snmpd encryptor, the mesh hosts the lab's namespaces (switches first, then encryptors,
 * then hosts, each in inventory order); meshes run in tunnel mode with the lab's master key and CA.
 */
export function labInventory(inv: Inventory, state: LabState, name: string, files: LabFiles) {
  const byName = new Map(state.hosts.map((h) => [h.name, h]));
  return {
    version: 1,
    name: `${inv.name ?? name} (lab)`,
    policy: inv.policy,
    sites: inv.sites,
    devices: [
      ...inv.devices.flatMap((d) => {
        const s = state.switches?.find((x) => x.name === d.name);
        return d.kind === "switch" && s ? [labSwitch(d, s, state.user!)] : [];
      }),
      ...inv.devices.flatMap((d) => {
        const e = state.encryptors?.find((x) => x.name === d.name);
        return d.kind === "l1-encryptor" && e ? [labEncryptor(d, e)] : [];
      }),
      ...inv.devices.flatMap((d) => {
        const h = byName.get(d.name);
        return d.kind === "host" && h ? [labHost(d, h)] : [];
      }),
    ],
    links: inv.links,
    meshes: inv.meshes.map((m) => labMesh(m, files)),
  };
}

/** A switch becomes a lab switch (netconfd, OpenConfig MACsec model) on loopback, keeping its ports. */
function labSwitch(d: SwitchEntry, s: LabSwitch, user: string) {
  return {
    name: d.name,
    kind: "switch",
    site: d.site,
    profile: "lab-openconfig-switch",
    management: { address: "127.0.0.1", port: s.port, transport: "netconf" },
    credentials: { username: user, secret: `file:${s.clientKeyPath}` },
    ports: d.ports,
  };
}

/** An encryptor becomes the lab encryptor (snmpd + agent), reached over SNMPv3 authPriv with keys from secrets.yaml. */
function labEncryptor(d: L1Entry, e: LabEncryptor) {
  return {
    name: d.name,
    kind: "l1-encryptor",
    site: d.site,
    profile: "acme-lx100",
    management: { address: "127.0.0.1", port: e.port, transport: "snmp", snmpVersion: "3", snmpAuth: "sha", snmpPriv: "aes" },
    credentials: { username: e.v3.user, secret: `secrets:${d.name}-auth`, privSecret: `secrets:${d.name}-priv` },
  };
}

/** A mesh host becomes a lab namespace with its own charon, keeping its role and tags (the mesh selectors). */
function labHost(d: HostEntry, h: LabHost) {
  return {
    name: d.name,
    kind: "host",
    site: d.site,
    profile: "lab-netns-host",
    ...(d.role ? { role: d.role } : {}),
    ...(d.tags.length ? { tags: d.tags } : {}),
    management: { address: h.address, transport: "local" },
    addresses: { ipv4: h.address },
    nics: [{ name: "eth0", profile: "virtio-net", speed: "10G", mtu: 1500 }],
    vici: { socket: h.viciSocket, confDir: join(h.dir, "swanctl", "conf.d") },
  };
}

/**
 * A mesh in the lab: tunnel mode (libipsec has no transport mode; transport-mode configurations are checked by
 * loading them, not by traffic), no NAT-T, the lab's master key, and for certificates the lab CA.
 */
function labMesh(m: MeshEntry, files: LabFiles) {
  return {
    ...m,
    mode: "tunnel",
    natT: false,
    pskMaster: `file:${files.keyFile}`,
    ...(m.auth === "cert" ? { ca: { cert: `file:${join(files.dir, "lab-ca.crt")}`, key: `file:${join(files.dir, "lab-ca.key")}` } } : {}),
  };
}

/** `inventory.yaml` as lab up writes it: a header naming the inventory it came from, then the lab inventory. */
export function labInventoryYaml(from: string, labInv: ReturnType<typeof labInventory>): string {
  return `# generated by linkcrypt lab up from ${from}\n${stringify(labInv)}`;
}
