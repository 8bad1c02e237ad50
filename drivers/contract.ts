import type { ZodType } from "zod";
import type { MacsecSuiteId } from "../src/crypto/macsec-suites.js";
import type { SnmpSession } from "../src/transport/snmp.js";
import type { SshConnection } from "../src/transport/ssh.js";

/**
 * The one contract every device driver implements. A driver is a transport plus a device dialect; the core picks
 * drivers by profile name through the registry and decides what to do from `flags`, never from vendor names.
 * A step a driver cannot do still exists as a method, and throws UnsupportedError; `flags` says so up front.
 *
 * The config transaction (NAPALM-style):
 *   await d.loadCandidate(change);            // stage; nothing live changes
 *   const diff = await d.diff();              // what would change (secrets masked)
 *   await d.commit({ confirmTimeoutS: 120 }); // live, but rolls back by itself unless confirmed
 *   await d.confirm();                        // keep it        ...or:  await d.rollback();
 */
export interface DriverFlags {
  /** Can change configuration at all. A read-only driver refuses every write. */
  writable: boolean;
  /** Changes are staged and can be diffed before they go live. */
  candidate: boolean;
  /** commit({confirmTimeoutS}) rolls back on the device by itself if confirm() does not come in time. */
  confirmedCommit: boolean;
  /** rollback() can undo a staged or unconfirmed change. */
  rollback: boolean;
  /** Every write is read back and compared before commit() returns. */
  verifiedWrites: boolean;
}

/** What a device says about itself. Only observed facts: nothing here is copied from a profile. */
export interface DeviceFacts {
  device: string;
  driver: string;
  reachable: true;
  observedAt: string;
  system?: { description?: string; name?: string; version?: string };
  /** Switches: NETCONF capabilities and the MACsec interfaces seen. */
  netconf?: { capabilities: string[]; candidate: boolean; confirmedCommit: boolean };
  macsecInterfaces?: string[];
  /** L1 encryptors. */
  l1?: { status: string; cipher: string; keyAgeSeconds: number; rotationIntervalSeconds: number; keyGeneration: number };
  /** Linux hosts. */
  host?: HostFacts;
}

export interface HostFacts {
  kernel: string;
  cpuFlags: string[];
  /** /proc/crypto: algorithm name -> drivers offering it (e.g. "rfc4106(gcm(aes))" -> ["rfc4106-gcm-aesni"]). */
  kernelAlgorithms: Record<string, string[]>;
  nics: { name: string; driver: string | undefined; espHwOffload: OffloadFlag; espTxCsumHwOffload: OffloadFlag }[];
  strongswanVersion: string | undefined;
  xfrmStat: Record<string, number> | undefined;
}

/** ethtool -k value: "on", "off", or "off [fixed]" (= the hardware cannot). */
export type OffloadFlag = "on" | "off" | "fixed-off" | "absent";

export interface LinkSecurityState {
  /** Port, interface or line the state is about. */
  port: string;
  status: "secured" | "unsecured" | "pending" | "unknown";
  cipher?: string;
  keyAgeSeconds?: number;
  counters?: Record<string, number | string>;
  detail: string;
  observedAt: string;
}

/** MACsec on a set of ports: policy, key chain and bindings. The CAK is a secret and never logged. */
export interface MacsecChange {
  kind: "macsec";
  policy: {
    name: string;
    suite: MacsecSuiteId;
    includeSci: boolean;
    keyServerPriority: number;
    sakRekeySeconds: number;
    mustSecure: boolean;
  };
  keychain: {
    name: string;
    ckn: string;
    cak: string;
    cryptoAlgorithm: "AES_128_CMAC" | "AES_256_CMAC";
    /** Make-before-break rotation: a second key installed alongside (the next one), and keys to remove (by CKN). */
    nextKey?: { ckn: string; cak: string };
    retireCkns?: string[];
  };
  interfaces: { name: string; replayWindow: number }[];
}

/** Settings of an L1 encryptor, by the names of its profile's OID map. */
export interface L1Change {
  kind: "l1";
  settings: { cipher?: string; rotationInterval?: number; adminMode?: "secure" | "bypass" };
  rotateNow?: boolean;
}

export type ConfigChange = MacsecChange | L1Change;

export interface Driver {
  readonly name: string;
  readonly device: string;
  readonly flags: DriverFlags;
  connect(): Promise<void>;
  close(): Promise<void>;
  facts(): Promise<DeviceFacts>;
  linkSecurity(): Promise<LinkSecurityState[]>;
  loadCandidate(change: ConfigChange): Promise<void>;
  diff(): Promise<string>;
  /** `token`: the name this commit can be confirmed or cancelled by from another session (NETCONF persist-id). */
  commit(o: { confirmTimeoutS: number; token?: string }): Promise<void>;
  /**
   * Cancels a confirmed commit that an earlier, dead process left pending, by the token it committed with.
   * True if one was cancelled, false if nothing was pending (it was confirmed or already rolled back).
   * Absent where the device has no such handle; apply then waits for the device's own timer.
   */
  cancelPending?(token: string): Promise<boolean>;
  confirm(): Promise<void>;
  rollback(): Promise<void>;
}

/**
 * What a driver gets from the core: the device's name, its profile data, and lazily opened, rate-limited
 * transports. Drivers never read files, secrets or the clock themselves.
 */
export interface DriverContext {
  device: string;
  /** The device profile as loaded (switch, l1-encryptor or host). */
  profile: Record<string, unknown>;
  ssh: () => Promise<SshConnection>;
  snmp: () => SnmpSession;
  commandTimeoutMs: number;
  now: () => Date;
}

export type DriverFactory = (ctx: DriverContext) => Driver;

/**
 * What a MACsec switch can be configured with, from what it said at discovery (facts), so that `plan --facts`
 * refuses what the driver would refuse at apply.
 */
export interface MacsecDeviceLimits {
  /** What the limits come from, for messages. */
  source: string;
  /** Suites the device can be set to; undefined = no restriction seen. */
  suites?: MacsecSuiteId[];
  /** false: the device's model has no leaf for the SCI, so a link that includes it cannot be configured. */
  sciSettable: boolean;
  /** Why no MACsec link can be configured on this device at all. */
  blocked?: string;
}

/**
 * What a driver folder exports as `descriptor` (drivers/<name>/index.ts), and all the core knows of it. The registry
 * (drivers/registry.ts) is the list of these; profiles, validate and apply find a driver only through it.
 */
export interface DriverDescriptor {
  /** The string profiles use (`driver: <name>`), and the folder's name. */
  name: string;
  /** The kind of device profile that may name this driver. */
  kind: "switch" | "l1-encryptor" | "host";
  create: DriverFactory;
  /**
   * The driver's own profile options, under `options:` in a device profile; `validate` checks them with this schema
   * and names the profile file on an error. A driver without options uses an empty strict object.
   */
  optionsSchema: ZodType;
  /** What the device calls each MACsec cipher suite; empty for a driver that does not do MACsec. */
  suiteNames: Readonly<Partial<Record<MacsecSuiteId, string>>>;
  /** Pure: the configuration the driver would send for a MACsec change, with the dialect's defaults (a preview). */
  render?: (change: MacsecChange) => string;
  /** Pure: what discovered facts say this device can be configured with (`plan --facts`). */
  macsecLimits?: (facts: DeviceFacts) => MacsecDeviceLimits | undefined;
}
