import type { EspCipherId } from "../crypto/esp-ciphers.js";
import type { MacsecSuiteId } from "../crypto/macsec-suites.js";
import type { ProfileSet } from "./load-profiles.js";
import type { HostProfile, L1EncryptorProfile, Medium, Method, NicProfile, PolicyProfile, SwitchProfile } from "./profile-schema.js";

/**
 * The resolved inventory the planner works on: every reference looked up, speeds in bit/s, profiles attached.
 * Built by `resolveInventory`; never built from anything that failed validation.
 */
export interface ModelPort {
  device: string;
  name: string;
  speedBps: number;
  /** Configured IP MTU. */
  mtu: number;
  l2Mtu: number | undefined;
  /** MACsec capability from the switch profile's port group, if the port can do MACsec at all. */
  macsec: { suites: MacsecSuiteId[]; sci: "always" | "optional"; lineRateUpToBps: number | undefined } | undefined;
}

export interface ModelSwitch {
  name: string;
  site: string;
  profile: SwitchProfile;
  ports: Map<string, ModelPort>;
}

export interface ModelL1 {
  name: string;
  site: string;
  profile: L1EncryptorProfile;
}

export interface ModelNic {
  name: string;
  profile: NicProfile;
  speedBps: number;
  mtu: number;
}

export interface ModelHost {
  name: string;
  site: string;
  profile: HostProfile;
  cpuFlags: readonly string[];
  ipv4: string | undefined;
  ipv6: string | undefined;
  /** The NIC that carries mesh traffic: the first one listed. */
  nic: ModelNic;
  role: string | undefined;
  tags: readonly string[];
  /** Kernel crypto algorithms known to exist (from discovered facts); undefined = not observed, assume present. */
  kernelAlgorithms: readonly string[] | undefined;
  /** strongSwan version from discovered facts; undefined = not observed, assume current. */
  strongswanVersion: string | undefined;
}

export interface ModelEndpoint {
  device: string;
  site: string;
  port: ModelPort;
  switchProfile: SwitchProfile;
}

export interface ModelLink {
  index: number;
  /** `links[3]`: where the link sits in the inventory. */
  path: string;
  name: string;
  a: ModelEndpoint;
  b: ModelEndpoint;
  medium: Medium;
  speedBps: number;
  pathMtu: number;
  encryptors: ModelL1[];
  eapolPassthrough: boolean | undefined;
  nat: boolean;
  pinnedMethod: Method | "none" | undefined;
  pinnedSuite: MacsecSuiteId | undefined;
  omitSci: boolean;
  policy: PolicyProfile;
  methods: readonly Method[];
  allowUnencrypted: boolean;
}

export interface ModelMesh {
  index: number;
  path: string;
  name: string;
  /** Members sorted by name. */
  hosts: ModelHost[];
  mode: "transport" | "tunnel";
  natT: boolean;
  overlay: "none" | "vxlan";
  auth: "psk" | "cert";
  /** Policy ciphers narrowed by the mesh's own list, in preference order. */
  ciphers: EspCipherId[];
  offload: "prefer" | "require" | "off";
}

export interface Model {
  name: string;
  policyName: string;
  policy: PolicyProfile;
  sites: string[];
  switches: Map<string, ModelSwitch>;
  l1s: Map<string, ModelL1>;
  hosts: Map<string, ModelHost>;
  links: ModelLink[];
  meshes: ModelMesh[];
  profiles: ProfileSet;
}
