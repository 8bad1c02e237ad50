import { z } from "zod";
import { ESP_CIPHER_IDS, type EspCipherId } from "../crypto/esp-ciphers.js";
import { MACSEC_SUITE_IDS } from "../crypto/macsec-suites.js";
import { MEDIA, METHODS } from "./profile-schema.js";
import { SPEED_PATTERN } from "./speed.js";

/**
 * The inventory: one YAML file describing sites, devices, links and host meshes.
 * `docs/inventory.schema.json` is generated from this schema (`npm run schema`) for editor completion.
 */
const Name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "use letters, digits, '.', '_' and '-' (no spaces or ':')")
  .describe("An identifier: letters, digits, '.', '_' and '-'.");

const Speed = z
  .union([z.string().regex(SPEED_PATTERN, 'write a speed like "100G", "25G" or "100M"'), z.number().positive()])
  .describe('Line speed, e.g. "100G", "25G", "400G", "100M" (a bare number is Gb/s).');

const Mtu = z.number().int().min(68).max(65535);

export const SecretRef = z
  .string()
  .regex(
    /^((env|file|secrets):\S+|cmd:\s*\S.*)$/,
    'a secret reference is "env:VAR", "file:/path", "secrets:key" or "cmd:COMMAND ARGS" (never the secret itself)',
  )
  .describe(
    'Where the secret lives: "env:VAR", "file:/path", "secrets:key" in the secrets file, or "cmd:COMMAND ARGS", what a command prints (vault, sops; run without a shell).',
  );

const Credentials = z.strictObject({
  username: z.string().optional(),
  /** The secret (password, private key, community or SNMPv3 keys) by reference. */
  secret: SecretRef,
  /** For SNMPv3 the privacy key may be a second reference. */
  privSecret: SecretRef.optional(),
});

const Management = z
  .strictObject({
    /** Required for netconf, ssh and snmp; `local` needs none. */
    address: z.string().min(1).optional(),
    /**
     * `local`: this machine (the lab); VICI is reached through its socket directly. Never assumed: a host without a
     * management block is not reachable by mesh commands or apply.
     */
    transport: z.enum(["netconf", "ssh", "snmp", "local"]),
    port: z.number().int().min(1).max(65535).optional(),
    snmpVersion: z.enum(["1", "2c", "3"]).optional(),
    /** SNMPv3 authentication protocol (default sha256). */
    snmpAuth: z.enum(["sha", "sha256", "sha512"]).optional(),
    /** SNMPv3 privacy protocol (default aes, i.e. AES-128-CFB). */
    snmpPriv: z.enum(["aes", "aes256b", "aes256r"]).optional(),
  })
  .refine((m) => m.transport === "local" || m.address !== undefined, {
    message: "address is required unless transport is local",
    path: ["address"],
  });

const Port = z.strictObject({
  name: z.string().min(1),
  speed: Speed,
  /** The IP (L3) MTU configured on the port. */
  mtu: Mtu,
  /** The L2 MTU (largest frame without FCS), if configured separately. */
  l2Mtu: z.number().int().min(82).max(65535).optional(),
  description: z.string().optional(),
});

const Nic = z.strictObject({
  name: z.string().min(1),
  /** A NIC profile from profiles/nics. */
  profile: z.string(),
  speed: Speed,
  mtu: Mtu,
});

const common = {
  name: Name,
  site: Name,
  /** A device profile from profiles/devices. */
  profile: z.string(),
  management: Management.optional(),
  credentials: Credentials.optional(),
  description: z.string().optional(),
};

const SwitchDevice = z.strictObject({ kind: z.literal("switch"), ...common, ports: z.array(Port).min(1) });
const L1Device = z.strictObject({ kind: z.literal("l1-encryptor"), ...common });
const HostDevice = z.strictObject({
  kind: z.literal("host"),
  ...common,
  addresses: z
    .strictObject({ ipv4: z.ipv4().optional(), ipv6: z.ipv6().optional() })
    .refine((a) => a.ipv4 !== undefined || a.ipv6 !== undefined, "a host needs an ipv4 or ipv6 address"),
  nics: z.array(Nic).min(1),
  role: z.string().optional(),
  tags: z.array(z.string()).default([]),
  /** Where charon's VICI socket and linkcrypt's swanctl files live on this host. */
  vici: z
    .strictObject({
      socket: z.string().default("/var/run/charon.vici"),
      confDir: z.string().default("/etc/swanctl/conf.d"),
    })
    .optional(),
});

export const Device = z.discriminatedUnion("kind", [SwitchDevice, L1Device, HostDevice]);

const PolicyOverride = z.strictObject({
  /** Another policy profile for this link. */
  profile: z.string().optional(),
  methods: z.array(z.enum(METHODS)).min(1).optional(),
  /** Allow this link to stay unencrypted when nothing else can protect it. */
  allowUnencrypted: z.boolean().optional(),
});

const Endpoint = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*:.+$/, 'an endpoint is "device:port", e.g. "ams1-sw1:et-0/0/48"');

export const Link = z.strictObject({
  name: Name,
  a: Endpoint,
  b: Endpoint,
  medium: z.enum(MEDIA),
  speed: Speed,
  /** Largest IP packet the path carries unencrypted (the provider's or the optics' MTU). */
  pathMtu: Mtu,
  /** Inline L1 encryptors on the path, one at each end. */
  encryptors: z.array(Name).optional(),
  /** Provider circuits only: does the provider pass EAPOL (ethertype 0x888E) frames? MKA needs it. */
  eapolPassthrough: z.boolean().optional(),
  /** A NAT device sits on this path: host ESP that crosses it needs NAT-T. */
  nat: z.boolean().default(false),
  /** Pin the method instead of letting the planner choose. */
  method: z.enum([...METHODS, "none"]).optional(),
  /** Pin the MACsec cipher suite. */
  macsecSuite: z.enum(MACSEC_SUITE_IDS).optional(),
  /** Leave the SCI out of the SecTAG (saves 8 bytes; both ports must allow it). */
  macsecOmitSci: z.boolean().default(false),
  policy: PolicyOverride.optional(),
  description: z.string().optional(),
});

export const Mesh = z.strictObject({
  name: Name,
  /** Hosts that match every given selector are members (lists are alternatives). */
  members: z
    .strictObject({
      sites: z.array(Name).optional(),
      roles: z.array(z.string()).optional(),
      tags: z.array(z.string()).optional(),
      hosts: z.array(Name).optional(),
    })
    .refine((m) => Object.values(m).some((v) => v !== undefined), "members needs at least one of sites, roles, tags or hosts"),
  mode: z.enum(["transport", "tunnel"]),
  /** NAT on every path between members (NAT-T, UDP 4500). Paths that cross a link with `nat: true` get it anyway. */
  natT: z.boolean().default(false),
  /** VXLAN carried inside the ESP (adds 50 bytes over IPv4, 70 over IPv6). */
  overlay: z.enum(["none", "vxlan"]).default("none"),
  auth: z.enum(["psk", "cert"]).default("psk"),
  /**
   * The master secret per-pair PSKs are derived from (at least 32 random bytes), by reference; or "state:": linkcrypt
   * generates it and keeps it sealed in the inventory's state store (as mesh/<mesh>/psk-master).
   */
  pskMaster: z
    .union([z.literal("state:"), SecretRef])
    .describe(
      'Where the PSK master lives: "env:VAR", "file:/path" or "secrets:key"; or "state:", generated by linkcrypt and kept sealed in the state store.',
    )
    .optional(),
  /** auth: cert: the inventory CA that issues each member's certificate (PEM files, by reference). */
  ca: z.strictObject({ cert: SecretRef, key: SecretRef }).optional(),
  /** Narrow the policy's ESP ciphers to these (order is preference). */
  ciphers: z
    .array(z.enum(ESP_CIPHER_IDS as [EspCipherId, ...EspCipherId[]]))
    .min(1)
    .optional(),
  /** NIC offload: prefer it, require it on both sides (refuse otherwise), or never use it. */
  offload: z.enum(["prefer", "require", "off"]).default("prefer"),
});

export const Site = z.strictObject({ name: Name, description: z.string().optional(), location: z.string().optional() });

export const Inventory = z.strictObject({
  version: z.literal(1),
  name: z.string().optional(),
  /** The policy profile for the whole inventory (profiles/policies). */
  policy: z.string(),
  sites: z.array(Site).min(1),
  devices: z.array(Device),
  links: z.array(Link).default([]),
  meshes: z.array(Mesh).default([]),
  /** Where this inventory's state lives and the key that seals its secrets (--state and --state-key override). */
  state: z
    .strictObject({
      location: z.string().min(1).describe("A SQLite file (relative to this inventory file) or a postgres:// URL.").optional(),
      key: SecretRef.describe("The state key, by reference: env:VAR, file:/path or secrets:key.").optional(),
    })
    .optional(),
});

export type Inventory = z.infer<typeof Inventory>;
export type DeviceEntry = z.infer<typeof Device>;
export type SwitchEntry = z.infer<typeof SwitchDevice>;
export type L1Entry = z.infer<typeof L1Device>;
export type HostEntry = z.infer<typeof HostDevice>;
export type LinkEntry = z.infer<typeof Link>;
export type MeshEntry = z.infer<typeof Mesh>;
export type PortEntry = z.infer<typeof Port>;
export type NicEntry = z.infer<typeof Nic>;
