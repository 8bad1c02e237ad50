import type { ConfigChange, Driver } from "../../drivers/contract.js";
import type { driverFactory } from "../../drivers/registry.js";
import type { SnmpSession } from "../../src/transport/snmp.js";
import type { SshConnection } from "../../src/transport/ssh.js";

export type DriverFactory = NonNullable<ReturnType<typeof driverFactory>>;
export type DriverContext = Parameters<DriverFactory>[0];

/**
 * What the contract suite runs against: a driver, the change to try, and how to observe the live configuration
 * independently of the driver.
 */
export interface Subject {
  driver: Driver;
  change: ConfigChange | undefined;
  /** The live value the change touches, read without the driver. */
  observe(): Promise<string>;
  /** MACsec subjects: the CKNs in the live configuration, read without the driver. */
  keys?(): Promise<string[]>;
  /** Closes the subject's own connections (not the peer). */
  stop(): Promise<void>;
}

/**
 * The transports a subject is built from, by role (the driver's device name, or "probe" for the suite's own
 * observer): real connections to a started peer, the same wrapped by the recorder, or the replayer's.
 */
export interface Io {
  ssh(role: string): Promise<SshConnection>;
  snmp(role: string): SnmpSession;
}

/** A started real peer: its transports, how to stop it, and what it is (for the recordings' provenance). */
export interface Peer extends Io {
  stop(): Promise<void>;
}

export interface SubjectDef {
  /** The peer and what it runs, written into each recording. */
  about: { peer: string; packages: string[]; profile: string; models?: string[] };
  /** Why the real peer cannot run on this machine, if it cannot. */
  realSkip?(): string | undefined;
  /** Starts the real peer (real mode only). */
  peer(): Promise<Peer>;
  /** Builds driver and observers from transports; the same code in every mode. */
  build(io: Io): Promise<Subject>;
}

export const CAK = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
export const NEXT_CAK = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
/** The keys the suite hands drivers: recorded as {{secret:NAME}}, never written to a fixture. */
export const SECRETS = { cak: CAK, "next-cak": NEXT_CAK };

export function ctx(device: string, profile: object, o: Partial<DriverContext>): DriverContext {
  return {
    device,
    profile: profile as Record<string, unknown>,
    commandTimeoutMs: 15_000,
    now: () => new Date(),
    ssh: async () => {
      throw new Error("no ssh for this subject");
    },
    snmp: () => {
      throw new Error("no snmp for this subject");
    },
    ...o,
  };
}
