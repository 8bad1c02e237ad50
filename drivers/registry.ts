import type { DriverContext, DriverFactory } from "./contract.js";
import * as eosMacsec from "./eos-macsec/index.js";
import * as junosMacsec from "./junos-macsec/index.js";
import * as linuxHost from "./linux-host/index.js";
import * as linuxMacsec from "./linux-macsec/index.js";
import * as l1Snmp from "./l1-snmp/index.js";
import * as openconfigMacsec from "./openconfig-macsec/index.js";

export type { DriverContext, DriverFactory } from "./contract.js";

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
