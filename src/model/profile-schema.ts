import { z } from "zod";
import { ESP_CIPHER_IDS, type EspCipherId } from "../crypto/esp-ciphers.js";
import { MACSEC_SUITE_IDS } from "../crypto/macsec-suites.js";

/**
 * Profiles are data (`profiles/**.yaml`): what a device model can do, and what a standard allows.
 * Every profile names its `sources`, so that a reviewer can check a capability against the vendor's documentation.
 */
const Name = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, "lower-case letters, digits, '.', '_' and '-' only");
const EspCipherIdSchema = z.enum(ESP_CIPHER_IDS as [EspCipherId, ...EspCipherId[]]);
const MacsecSuiteIdSchema = z.enum(MACSEC_SUITE_IDS);
const Sources = z.array(z.string()).default([]);

export const METHODS = ["l1", "macsec", "host-mesh"] as const;
export type Method = (typeof METHODS)[number];
export const MEDIA = ["dark-fibre", "dwdm", "cross-connect", "provider-l2", "provider-l3", "internet", "lan"] as const;
export type Medium = (typeof MEDIA)[number];

const PortGroup = z.strictObject({
  /** Glob on the port name (`et-*`, `Ethernet1/*`); the first group that matches a port describes it. */
  match: z.string(),
  macsec: z
    .strictObject({
      suites: z.array(MacsecSuiteIdSchema),
      /** `always`: the SCI is always sent (32 bytes); `optional`: it can be left out (24 bytes). */
      sci: z.enum(["always", "optional"]).default("always"),
      /** Highest port speed at which MACsec still runs at line rate. */
      lineRateUpTo: z.union([z.string(), z.number()]).optional(),
    })
    .optional(),
});

export const SwitchProfile = z.strictObject({
  kind: z.literal("switch"),
  name: Name,
  vendor: z.string(),
  model: z.string(),
  driver: z.string(),
  /** Largest L2 frame (Ethernet header + payload, no FCS) any port accepts. */
  maxFrame: z.number().int().positive(),
  portGroups: z.array(PortGroup).min(1),
  /** false for lab switches that store configuration but run no MKA: apply cannot wait for "secured" on them. */
  /** The driver's own options, checked by the schema its folder exports (drivers/<name>/options.ts) when profiles load. */
  options: z.record(z.string(), z.unknown()).optional(),
  mkaObservable: z.boolean().default(true),
  /** Linux switches (driver linux-macsec: kernel macsec + wpa_supplicant MKA): where it keeps state, NIC offload. */
  linux: z
    .strictObject({
      /** Whether the port's NIC offloads MACsec (`ip macsec offload DEV mac|phy`); `off`: the kernel encrypts. */
      macsecOffload: z.enum(["off", "mac", "phy"]).default("off"),
      stateDir: z.string().optional(),
      runDir: z.string().optional(),
      /** Make-before-break: how long a commit waits for a new CA to be secured before it restores the old one. */
      switchoverWaitS: z.number().int().min(1).max(600).optional(),
    })
    .optional(),
  /** NETCONF dialect details: XML namespaces where a device differs from the defaults. */
  netconf: z
    .strictObject({
      namespaces: z.strictObject({ macsec: z.string().optional(), keychain: z.string().optional() }).optional(),
      /** Namespace on Junos `<configuration>` in edit-config; "" sends none. */
      junosNamespace: z.string().optional(),
    })
    .optional(),
  notes: z.string().optional(),
  sources: Sources,
});

export const L1EncryptorProfile = z.strictObject({
  kind: z.literal("l1-encryptor"),
  name: Name,
  vendor: z.string(),
  model: z.string(),
  driver: z.string(),
  /** Encryptors interoperate only within one family (same vendor key exchange over the line). */
  family: z.string(),
  ciphers: z.array(z.string()).min(1),
  maxSpeed: z.union([z.string(), z.number()]),
  /** Bytes added to the client MTU; 0 for OTN-layer encryption that carries its overhead in the OTN frame. */
  overheadBytes: z.number().int().min(0),
  /** The driver's own options, checked by the schema its folder exports (drivers/<name>/options.ts) when profiles load. */
  options: z.record(z.string(), z.unknown()).optional(),
  certifications: z.array(z.string()).default([]),
  snmp: z
    .strictObject({
      base: z.string().optional(),
      oids: z.record(z.string(), z.string()).default({}),
      values: z.record(z.string(), z.record(z.string(), z.number())).default({}),
    })
    .optional(),
  notes: z.string().optional(),
  sources: Sources,
});

export const HostProfile = z.strictObject({
  kind: z.literal("host"),
  name: Name,
  vendor: z.string(),
  model: z.string(),
  driver: z.string().default("linux-host"),
  cpu: z.strictObject({
    model: z.string(),
    /** /proc/cpuinfo flags that matter for ESP: aes, pclmulqdq, vaes, vpclmulqdq, avx2, avx512f. */
    flags: z.array(z.string()),
    cores: z.number().int().positive(),
    ghz: z.number().positive(),
  }),
  /** The driver's own options, checked by the schema its folder exports (drivers/<name>/options.ts) when profiles load. */
  options: z.record(z.string(), z.unknown()).optional(),
  kernel: z.string().optional(),
  notes: z.string().optional(),
  sources: Sources,
});

export const NicProfile = z.strictObject({
  kind: z.literal("nic"),
  name: Name,
  vendor: z.string(),
  model: z.string(),
  /** Kernel driver name as `ethtool -i` reports it. */
  kernelDriver: z.string(),
  espOffload: z.strictObject({
    modes: z.array(z.enum(["crypto", "packet"])),
    ciphers: z.array(EspCipherIdSchema),
    ipsecModes: z.array(z.enum(["transport", "tunnel"])),
    /** Tunnel mode in packet offload needs its own capability bit on some NICs. */
    packetTunnel: z.boolean().default(true),
    directions: z.array(z.enum(["in", "out"])),
    natT: z.boolean(),
    ipv6: z.boolean().default(true),
    /** Kernel release that first has packet offload for this driver, if packet mode is listed. */
    packetMinKernel: z.string().optional(),
    /** The driver keeps ESN state for offloaded SAs (implements xdo_dev_state_advance_esn); without it the kernel
     * refuses packet offload with ESN and silently runs crypto offload in software. */
    esn: z.boolean().default(false),
  }),
  notes: z.string().optional(),
  sources: Sources,
});

export const DeviceProfile = z.discriminatedUnion("kind", [SwitchProfile, L1EncryptorProfile, HostProfile]);

export const PolicyProfile = z.strictObject({
  name: Name,
  title: z.string(),
  references: z.array(z.string()).default([]),
  /** Methods in order of preference. A method not listed is never chosen. */
  methods: z.array(z.enum(METHODS)).min(1),
  /** Media that may stay unencrypted when no listed method can protect them. */
  unencryptedMedia: z.array(z.enum(MEDIA)).default([]),
  esp: z.strictObject({ ciphers: z.array(EspCipherIdSchema).min(1) }),
  ike: z.strictObject({
    proposals: z.array(z.string()).min(1),
    dhGroups: z.array(z.string()).min(1),
  }),
  pfs: z.boolean(),
  macsec: z.strictObject({
    suites: z.array(MacsecSuiteIdSchema).min(1),
    /** Speeds at or above this need an XPN suite. */
    xpnFrom: z.union([z.string(), z.number()]).default("40G"),
  }),
  l1: z.strictObject({
    ciphers: z.array(z.string()).min(1),
    /** When set, an encryptor must hold one of these certifications (prefix match, e.g. "FIPS 140-3"). */
    certifications: z.array(z.string()).default([]),
  }),
  lifetimes: z.strictObject({
    ikeSeconds: z.number().int().positive(),
    childSeconds: z.number().int().positive(),
    macsecSakRekeySeconds: z.number().int().min(0),
    maxKeyAgeDays: z.number().int().positive(),
  }),
  /** Whether pairs whose every link is hardware-encrypted still need host ESP (defence in depth). */
  meshOverEncryptedLinks: z.enum(["required", "optional"]),
  dpdSeconds: z.number().int().positive().default(30),
});

export type SwitchProfile = z.infer<typeof SwitchProfile>;
export type L1EncryptorProfile = z.infer<typeof L1EncryptorProfile>;
export type HostProfile = z.infer<typeof HostProfile>;
export type NicProfile = z.infer<typeof NicProfile>;
export type DeviceProfile = z.infer<typeof DeviceProfile>;
export type PolicyProfile = z.infer<typeof PolicyProfile>;

/** Estimated host-xfrm throughput per SA (one core), by cipher family and CPU tier. Estimates, with sources. */
const Tiers = z.strictObject({ vaes: z.number().positive(), aesni: z.number().positive(), generic: z.number().positive() });
export const XfrmPerfProfile = z.strictObject({
  kind: z.literal("xfrm-throughput"),
  unit: z.literal("Gbps-per-sa"),
  families: z.strictObject({ "aes-gcm": Tiers, "aes-cbc-hmac": Tiers, "chacha20-poly1305": Tiers }),
  notes: z.string().optional(),
  sources: Sources,
});
export type XfrmPerfProfile = z.infer<typeof XfrmPerfProfile>;
