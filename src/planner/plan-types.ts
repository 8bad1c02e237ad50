import type { Diagnostic } from "../model/diagnostics.js";
import type { LayerCost } from "./mtu-budget.js";

/**
 * A plan is versioned, deterministic data: the same inputs give the same bytes. Apply executes exactly a saved plan,
 * and refuses one whose `format`/`version` it does not know or whose `inputs` digests no longer match.
 *
 * Example (abridged):
 * {"format":"linkcrypt-plan","version":1,"policy":"cnsa-1",
 *  "links":[{"name":"ams-fra-dwdm","method":"macsec","cipher":"GCM-AES-XPN-256",
 *            "reasons":["macsec: GCM-AES-XPN-256 on ams1-sw1:et-0/0/0 and fra1-sw1:et-0/0/0 ..."],
 *            "mtu":{"pathMtu":9216,"overheadBytes":32,"maxInnerMtu":9184,...}}],
 *  "meshes":[{"name":"lan","pairs":1225,"pairClasses":[...]}],
 *  "diagnostics":[{"severity":"warning","path":"meshes[0].pairClasses[pc2]","message":"..."}]}
 */
export const PLAN_FORMAT = "linkcrypt-plan";
export const PLAN_VERSION = 1;

export type LinkMethod = "l1" | "macsec" | "host-mesh" | "none" | "refused";

export interface MtuPlan {
  pathMtu: number;
  overheadBytes: number;
  maxInnerMtu: number;
  /** IP MTU to configure on the interface (links) or on the route to the peer (host pairs). */
  recommendedMtu: number;
  mssClamp: number;
  layers: LayerCost[];
}

export interface Candidate {
  method: string;
  viable: boolean;
  detail: string;
}

export interface LinkPlan {
  name: string;
  path: string;
  a: string;
  b: string;
  sites: [string, string];
  medium: string;
  speed: string;
  policy: string;
  method: LinkMethod;
  /** MACsec suite, L1 cipher or ESP cipher id; null when nothing encrypts the link. */
  cipher: string | null;
  keyManagement: string | null;
  reasons: string[];
  /** Every method considered, in the policy's order, and why it was or wasn't usable. */
  candidates: Candidate[];
  mtu: MtuPlan;
  capacity: { linkSpeed: string; encryptSpeed: string | null; ok: boolean; detail: string };
  macsec?: { suite: string; includeSci: boolean; xpn: boolean; pnExhaustion: string };
  l1?: { encryptors: [string, string]; family: string; cipher: string; certifications: string[]; overheadBytes: number };
  mesh?: string;
}

export type SideDecision = "nic-packet-offload" | "nic-crypto-offload" | "host-xfrm";

export interface SidePlan {
  hostClass: string;
  decision: SideDecision;
  /** strongSwan `hw_offload` value this side's CHILD_SA gets. */
  hwOffload: "packet" | "crypto" | "no";
  /** Estimated encrypt rate of this side for one SA. */
  throughput: string;
  reason: string;
}

export interface PairClassPlan {
  id: string;
  hostClasses: [string, string];
  pathClass: string;
  pairs: number;
  method: "esp" | "exempt" | "refused";
  cipher: string | null;
  families: ("ipv4" | "ipv6")[];
  natT: boolean;
  sides: [SidePlan, SidePlan] | null;
  mtu: MtuPlan | null;
  capacity: { nicSpeed: string; estimate: string; ok: boolean } | null;
  /**
   * Extended Sequence Numbers: the pair's estimated packet rate would exhaust the 32-bit ESP sequence number before
   * the CHILD_SA lifetime, and both ends (strongSwan and any offloading NIC) support ESN; `-esn` goes in esp_proposals.
   */
  esn: boolean;
  /** When the sequence number would run out but ESN is not possible: rekey the CHILD_SA after this many packets. */
  rekeyPackets: number | null;
  reasons: string[];
}

export interface HostClassPlan {
  id: string;
  nic: string;
  nicDriver: string;
  nicSpeed: string;
  nicMtu: number;
  /** ESP offload modes the NIC has, after discovered facts (empty when ethtool says esp-hw-offload is off). */
  offload: ("crypto" | "packet")[];
  cpu: string;
  cpuTier: "vaes" | "aesni" | "generic";
  families: ("ipv4" | "ipv6")[];
  /**
   * The mesh ciphers these hosts' kernels can run (per /proc/crypto; all when not observed), leaving out ciphers that
   * cannot change any pair's decision in this mesh (an earlier cipher every member runs is never worse).
   */
  usableCiphers: string[];
  /** strongSwan feature level: hw_offload = packet|crypto (null where the NIC has no packet offload, so it does not matter), ESN. */
  strongswan: { hwOffloadModes: boolean | null; esn: boolean };
  hosts: string[];
}

export interface PathClassPlan {
  id: string;
  /** Largest packet the links carry after their own encryption; null when the pair stays on one site's LAN. */
  linksMtu: number | null;
  natT: boolean;
  hardwareEncrypted: boolean;
  /** Slowest link on the path; null on a LAN. */
  speed: string | null;
  /** Site pairs that share this path class, as "siteA~siteB" (same-site: "ams1~ams1"). */
  sitePairs: string[];
  links: string[][];
}

export interface MeshPlan {
  name: string;
  path: string;
  mode: "transport" | "tunnel";
  auth: "psk" | "cert";
  overlay: "none" | "vxlan";
  /** One initiator per pair: the host whose name sorts first (byte order) initiates; the other only responds. */
  initiator: "lower-name";
  ike: { proposals: string[]; pfs: boolean; pfsGroup: string; lifetimeSeconds: number; childLifetimeSeconds: number; dpdSeconds: number };
  hosts: number;
  pairs: number;
  /** Every member with its addresses and host class, sorted by name: what a renderer needs per peer. */
  members: { name: string; site: string; ipv4?: string; ipv6?: string; hostClass: string }[];
  hostClasses: HostClassPlan[];
  pathClasses: PathClassPlan[];
  pairClasses: PairClassPlan[];
}

export interface Plan {
  format: typeof PLAN_FORMAT;
  version: typeof PLAN_VERSION;
  generator: string;
  inventory: string;
  policy: string;
  inputs: { inventoryDigest: string; profilesDigest: string; factsDigest?: string };
  summary: {
    links: Record<LinkMethod, number>;
    meshes: number;
    hosts: number;
    pairs: number;
    errors: number;
    warnings: number;
  };
  links: LinkPlan[];
  meshes: MeshPlan[];
  diagnostics: Diagnostic[];
}
