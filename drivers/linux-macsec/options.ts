import { z } from "zod";
import { UnsupportedError } from "../../src/errors.js";

/**
 * What a Linux switch profile tells the `linux-macsec` driver (`linux:` in profiles/devices/switches/*.yaml).
 * Everything has a default, so a profile without the block works on a stock Debian-like system.
 */
export interface LinuxMacsecOptions {
  /** Where the driver keeps each port's running, candidate and previous configuration (root-only, holds CAKs). */
  stateDir: string;
  /** Where wpa_supplicant's control sockets, pid files and logs live (tmpfs: gone after a reboot, like the daemons). */
  runDir: string;
  /** The NIC offloads MACsec: `mac` or `phy` (the SecY is created with that offload), or `off` (software). */
  macsecOffload: "off" | "mac" | "phy";
  /**
   * Make-before-break: how long a commit that moves a secured port to another CAK waits for the new CA to be
   * secured before it gives up and restores the previous configuration.
   */
  switchoverWaitS: number;
  /** wpa_supplicant's cipher suites: 2.10 (Debian 12) has GCM-AES-128 only; 2.11 adds GCM-AES-256 (`macsec_csindex`). */
  suites: string[];
}

export const DEFAULTS: LinuxMacsecOptions = {
  stateDir: "/etc/linkcrypt/macsec",
  runDir: "/run/linkcrypt-macsec",
  macsecOffload: "off",
  switchoverWaitS: 30,
  suites: ["GCM-AES-128"],
};

const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;

export function linuxMacsecOptions(profile: Record<string, unknown>, device: string): LinuxMacsecOptions {
  const l = (profile.linux ?? {}) as Partial<LinuxMacsecOptions>;
  const defined = Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined)) as Partial<LinuxMacsecOptions>;
  const o: LinuxMacsecOptions = { ...DEFAULTS, ...defined };
  if (Array.isArray(profile.portGroups)) {
    const suites = (profile.portGroups as { macsec?: { suites?: string[] } }[]).flatMap((g) => g.macsec?.suites ?? []);
    if (suites.length) o.suites = [...new Set(suites)];
  }
  for (const [k, v] of [
    ["stateDir", o.stateDir],
    ["runDir", o.runDir],
  ] as const)
    if (!SAFE_PATH.test(v))
      throw new UnsupportedError(`${device}: the profile's linux.${k} "${v}" is not a plain absolute path`, {
        device,
        driver: "linux-macsec",
        operation: "options",
      });
  return o;
}

/** A port name as the kernel allows it, safe to put in a shell word and a file name. */
export function checkPortName(name: string, device: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$/.test(name))
    throw new UnsupportedError(`${device}: "${name}" is not a Linux interface name`, {
      device,
      driver: "linux-macsec",
      operation: "loadCandidate",
    });
  return name;
}

/**
 * The driver's own profile options under `options:`, checked by `validate`: none yet. What it reads sits in the
 * profile's `linux:` block (above), which src/model/profile-schema.ts checks.
 */
export const optionsSchema = z.strictObject({});
