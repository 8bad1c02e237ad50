import type { SshConnection } from "../src/transport/ssh.js";
import type { SnmpSession } from "../src/transport/snmp.js";
import type { Driver } from "./contract.js";
import * as eosMacsec from "./eos-macsec/index.js";
import * as junosMacsec from "./junos-macsec/index.js";
import * as linuxHost from "./linux-host/index.js";
import * as linuxMacsec from "./linux-macsec/index.js";
import * as l1Snmp from "./l1-snmp/index.js";
import * as openconfigMacsec from "./openconfig-macsec/index.js";

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

const registry = new Map<string, DriverFactory>([
  [linuxHost.name, linuxHost.create],
  [l1Snmp.name, l1Snmp.create],
  [openconfigMacsec.name, openconfigMacsec.create],
  [junosMacsec.name, junosMacsec.create],
  [eosMacsec.name, eosMacsec.create],
  [linuxMacsec.name, linuxMacsec.create],
]);

export function driverFactory(name: string): DriverFactory | undefined {
  return registry.get(name);
}

export function driverNames(): string[] {
  return [...registry.keys()].sort();
}

/** For simulators in benchmarks and tests: add a driver under a name a profile can refer to. */
export function registerDriver(name: string, factory: DriverFactory): void {
  registry.set(name, factory);
}
