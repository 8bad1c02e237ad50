import { z } from "zod";
import type { DeviceFacts, DriverDescriptor, DriverFactory, MacsecDeviceLimits } from "./contract.js";
import * as eosMacsec from "./eos-macsec/index.js";
import * as junosMacsec from "./junos-macsec/index.js";
import * as l1Snmp from "./l1-snmp/index.js";
import * as linuxHost from "./linux-host/index.js";
import * as linuxMacsec from "./linux-macsec/index.js";
import * as openconfigMacsec from "./openconfig-macsec/index.js";

/**
 * The drivers of this version: one import and one entry per folder under drivers/ (shared/ aside), each the folder's
 * `descriptor`. A static list, so the bundled bin carries every driver; test/unit/driver-registry.test.ts fails when
 * a folder is missing here or a descriptor lacks a part.
 */
export const DRIVERS: readonly DriverDescriptor[] = [
  linuxHost.descriptor,
  l1Snmp.descriptor,
  openconfigMacsec.descriptor,
  junosMacsec.descriptor,
  eosMacsec.descriptor,
  linuxMacsec.descriptor,
];

const registry = new Map<string, DriverDescriptor>(DRIVERS.map((d) => [d.name, d]));

export function driverDescriptor(name: string): DriverDescriptor | undefined {
  return registry.get(name);
}

export function driverFactory(name: string): DriverFactory | undefined {
  return registry.get(name)?.create;
}

export function driverNames(): string[] {
  return [...registry.keys()].sort();
}

/**
 * Adds a driver at run time under a name a profile can refer to: a whole descriptor (a driver folder loaded from
 * elsewhere), or, for simulators in benchmarks and tests, a name and a factory (a switch driver without options).
 */
export function registerDriver(d: DriverDescriptor): void;
export function registerDriver(name: string, factory: DriverFactory): void;
export function registerDriver(d: DriverDescriptor | string, factory?: DriverFactory): void {
  const descriptor: DriverDescriptor =
    typeof d === "string" ? { name: d, kind: "switch", create: factory!, optionsSchema: z.strictObject({}), suiteNames: {} } : d;
  registry.set(descriptor.name, descriptor);
}

/** What discovered facts say a MACsec switch can be configured with, by its driver's rules (`plan --facts`). */
export function macsecDeviceLimits(driver: string, facts: DeviceFacts): MacsecDeviceLimits | undefined {
  return registry.get(driver)?.macsecLimits?.(facts);
}
