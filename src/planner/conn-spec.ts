import { espCipher, type EspCipherId } from "../crypto/esp-ciphers.js";
import { UnsupportedError } from "../errors.js";
import { REKEY_PACKETS } from "./esp-sequence.js";
import type { MeshPlan, PairClassPlan } from "./plan-types.js";

/**
 * What one host needs to talk to one peer, as data: rendered to swanctl.conf text and to a VICI load-conn message
 * from the same value, so the file on disk and the live configuration cannot drift apart. Pure.
 */
export interface ChildSpec {
  name: string;
  mode: "transport" | "tunnel";
  localTs: string;
  remoteTs: string;
  espProposal: string;
  /** swanctl `rekey_packets`: where the 32-bit ESP sequence number would run out before the rekey and ESN is not possible. */
  rekeyPackets?: number;
  /** The swanctl value for the target charon: `packet`/`crypto`/`no`, or `yes`/`no` on older releases. */
  hwOffload: "packet" | "crypto" | "yes" | "no";
  /**
   * Fail-closed roles (docs/mesh.md): the initiator traps (its kernel holds the ESP policy with or without an SA,
   * and traffic negotiates), re-initiates when the peer closes (`close_action = start`) and after DPD (`restart`);
   * the responder never initiates, so there is one initiator per pair, and relies on the pair's drop shunt.
   */
  startAction: "trap" | "none";
  closeAction: "start" | "none";
  dpdAction: "restart" | "clear";
  rekeyTimeS: number;
  randTimeS: number;
}

export interface ConnSpec {
  name: string;
  peer: string;
  initiator: boolean;
  localAddr: string;
  remoteAddr: string;
  localId: string;
  remoteId: string;
  proposals: string[];
  encap: boolean;
  dpdDelayS: number;
  rekeyTimeS: number;
  auth: "psk" | "pubkey";
  /** With certificates: this host's certificate file name under swanctl/x509. */
  localCert?: string;
  children: ChildSpec[];
}

/**
 * The drop shunt of one pair: a connection of its own (`block-<peer>`) whose only child is a `mode = drop` policy
 * for the pair's addresses at a fixed priority below the ESP policies'. charon keeps one kernel policy per selector
 * and installs the highest-priority user of it, so while the ESP child is loaded its policy wins, and when the
 * child (or its whole connection) goes, the kernel falls back to this drop policy instead of to no policy at all.
 * Being its own connection, it survives `unload-conn` of the pair's ESP connection, and delivery adds and removes
 * it with its peer, never touching other pairs' shunts.
 */
export interface ShuntSpec {
  name: string;
  peer: string;
  children: { name: string; localTs: string; remoteTs: string }[];
  priority: number;
}

/**
 * Fixed xfrm priority of the drop shunts. charon's automatic priority for a /32-/32 ESP policy is 367232
 * (strongSwan 5.9.8, kernel-netlink, seen in the kernel lab's `ip xfrm policy`); larger numbers lose in xfrm, so any
 * policy charon derives for a mesh pair (up to /0 selectors, about 400000) outranks the shunt.
 */
export const SHUNT_PRIORITY = 2_000_000;

export function shuntName(peer: string): string {
  return `block-${peer}`;
}

export interface ConnSpecOptions {
  /**
   * The libipsec lab: force UDP encapsulation of ESP (libipsec always encapsulates), and no ESN (libipsec has no
   * extended sequence numbers): where the plan wants ESN, the pair rekeys by packet count instead.
   */
  forceEncap?: boolean;
  /** The host's strongSwan version; older releases only know hw_offload = yes|no|auto. Default: current syntax. */
  strongswanVersion?: string;
}

/**
 * strongSwan 5.9.8 (tested: Debian bookworm's charon) accepts hw_offload = yes|no|auto and rejects crypto|packet.
 * The release that added crypto/packet is taken as 5.9.10 (unconfirmed: the packet-offload release notes); on older
 * releases `yes` is the explicit crypto offload, and packet offload cannot be expressed at all.
 */
export const HW_OFFLOAD_MODES_SINCE = "5.9.10";

export function versionAtLeast(version: string, min: string): boolean {
  const a = version.split(".").map(Number);
  const b = min.split(".").map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

function hwOffloadValue(
  decision: "packet" | "crypto" | "no",
  host: string,
  peer: string,
  version: string | undefined,
): ChildSpec["hwOffload"] {
  if (version === undefined || versionAtLeast(version, HW_OFFLOAD_MODES_SINCE) || decision === "no") return decision;
  if (decision === "crypto") return "yes";
  throw new UnsupportedError(
    `${host}: the plan wants NIC packet offload toward ${peer}, but strongSwan ${version} on ${host} predates hw_offload = packet ` +
      `(${HW_OFFLOAD_MODES_SINCE}); run discover and plan --facts so the planner knows the version`,
    { device: host, operation: "render" },
  );
}

export function connName(peer: string): string {
  return `mesh-${peer}`;
}

/** Looks up the pair class of any two members of a mesh plan. */
export function pairClassIndex(mesh: MeshPlan): (a: string, b: string) => { pc: PairClassPlan; aIsSideA: boolean } | undefined {
  const member = new Map(mesh.members.map((m) => [m.name, m]));
  const order = new Map(mesh.hostClasses.map((c, i) => [c.id, i]));
  const pathOf = new Map<string, string>();
  for (const p of mesh.pathClasses) for (const sp of p.sitePairs) pathOf.set(sp, p.id);
  const byKey = new Map(mesh.pairClasses.map((c) => [`${c.hostClasses[0]}|${c.hostClasses[1]}|${c.pathClass}`, c]));
  return (a, b) => {
    const ma = member.get(a);
    const mb = member.get(b);
    if (!ma || !mb) return undefined;
    const sites = [ma.site, mb.site].sort();
    const path = pathOf.get(`${sites[0]}~${sites[1]}`);
    const aFirst = order.get(ma.hostClass)! <= order.get(mb.hostClass)!;
    const [lo, hi] = aFirst ? [ma.hostClass, mb.hostClass] : [mb.hostClass, ma.hostClass];
    const pc = byKey.get(`${lo}|${hi}|${path}`);
    // When both hosts share a class, side A is whichever comes first by name: the sides are alike anyway.
    return pc ? { pc, aIsSideA: ma.hostClass === mb.hostClass ? a < b : aFirst } : undefined;
  };
}

/** Every connection `host` needs in `mesh`: one per peer whose pair uses ESP, sorted by peer name. */
export function meshConnSpecs(mesh: MeshPlan, host: string, o: ConnSpecOptions = {}): ConnSpec[] {
  const self = mesh.members.find((m) => m.name === host);
  if (!self) throw new Error(`host ${host} is not in mesh ${mesh.name}`);
  const lookup = pairClassIndex(mesh);
  const out: ConnSpec[] = [];
  for (const peer of mesh.members) {
    if (peer.name === host) continue;
    const hit = lookup(host, peer.name);
    if (hit?.pc.method !== "esp" || !hit.pc.cipher || !hit.pc.sides) continue;
    const side = hit.aIsSideA ? hit.pc.sides[0] : hit.pc.sides[1];
    const initiator = host < peer.name;
    const cipher = espCipher(hit.pc.cipher as EspCipherId);
    // ESN where the planner found that 2^32 packets run out before the rekey and both ends (and any offloading NIC) support it.
    const esn = hit.pc.esn && o.forceEncap !== true;
    const rekeyPackets = hit.pc.esn && !esn ? REKEY_PACKETS : hit.pc.rekeyPackets;
    const espProposal = `${mesh.ike.pfs ? `${cipher.strongswan}-${mesh.ike.pfsGroup}` : cipher.strongswan}${esn ? "-esn" : ""}`;
    const rekey = mesh.ike.childLifetimeSeconds;
    const child = (fam: "ipv4" | "ipv6", l: string, r: string, suffix: string): ChildSpec => ({
      name: `${connName(peer.name)}${suffix}`,
      mode: mesh.mode,
      localTs: `${l}/${fam === "ipv4" ? 32 : 128}`,
      remoteTs: `${r}/${fam === "ipv4" ? 32 : 128}`,
      espProposal,
      ...(rekeyPackets !== null ? { rekeyPackets } : {}),
      hwOffload: hwOffloadValue(side.hwOffload, host, peer.name, o.strongswanVersion),
      startAction: initiator ? "trap" : "none",
      closeAction: initiator ? "start" : "none",
      dpdAction: initiator ? "restart" : "clear",
      rekeyTimeS: rekey,
      randTimeS: Math.round(rekey / 10),
    });
    const children: ChildSpec[] = [];
    if (hit.pc.families.includes("ipv4") && self.ipv4 && peer.ipv4) children.push(child("ipv4", self.ipv4, peer.ipv4, ""));
    if (hit.pc.families.includes("ipv6") && self.ipv6 && peer.ipv6) children.push(child("ipv6", self.ipv6, peer.ipv6, "-v6"));
    out.push({
      name: connName(peer.name),
      peer: peer.name,
      initiator,
      localAddr: self.ipv4 && peer.ipv4 ? self.ipv4 : self.ipv6!,
      remoteAddr: self.ipv4 && peer.ipv4 ? peer.ipv4 : peer.ipv6!,
      localId: host,
      remoteId: peer.name,
      proposals: [...mesh.ike.proposals],
      encap: hit.pc.natT || o.forceEncap === true,
      dpdDelayS: mesh.ike.dpdSeconds,
      rekeyTimeS: mesh.ike.lifetimeSeconds,
      auth: mesh.auth === "psk" ? "psk" : "pubkey",
      ...(mesh.auth === "cert" ? { localCert: `${host}.crt` } : {}),
      children,
    });
  }
  return out;
}

/** The drop shunts `host` needs: one per peer it has an ESP connection with, covering the same selectors. */
export function meshShuntSpecs(conns: readonly ConnSpec[]): ShuntSpec[] {
  return conns.map((c) => ({
    name: shuntName(c.peer),
    peer: c.peer,
    priority: SHUNT_PRIORITY,
    children: c.children.map((ch) => ({
      name: `${shuntName(c.peer)}${ch.name.endsWith("-v6") ? "-v6" : ""}`,
      localTs: ch.localTs,
      remoteTs: ch.remoteTs,
    })),
  }));
}
