import { UnsupportedError } from "../../src/errors.js";
import type { SshConnection } from "../../src/transport/ssh.js";
import type { DeviceFacts, Driver, DriverFlags, HostFacts, LinkSecurityState } from "../contract.js";
import type { DriverContext } from "../contract.js";
import { parseCpuinfo } from "./parsers/proc-cpuinfo.js";
import { parseProcCrypto } from "./parsers/proc-crypto.js";
import { parseEthtoolFeatures, parseEthtoolInfo } from "./parsers/ethtool.js";
import { parseStrongswanVersion } from "./parsers/strongswan-version.js";
import { parseXfrmStat } from "./parsers/xfrm-stat.js";
import type { DriverDescriptor } from "../contract.js";
import { optionsSchema } from "./options.js";

/**
 * `linux-host`: facts about a Linux host over SSH, for the planner: CPU AES features, the kernel's AEAD
 * implementations, NIC drivers and their ESP offload flags, strongSwan's version and xfrm error counters.
 * Read-only: the host mesh is configured through strongSwan's VICI interface, not through this driver.
 */
export const name = "linux-host";
export const flags: DriverFlags = { writable: false, candidate: false, confirmedCommit: false, rollback: false, verifiedWrites: false };

/** One script, one round trip; each section starts with a `### name` line. */
export const FACTS_SCRIPT = [
  "echo '### uname'; uname -r",
  "echo '### cpuinfo'; grep -m1 -E '^(flags|Features)' /proc/cpuinfo",
  "echo '### crypto'; cat /proc/crypto",
  "echo '### xfrm_stat'; cat /proc/net/xfrm_stat 2>/dev/null",
  "echo '### strongswan'; (swanctl --version || ipsec --version || /usr/lib/ipsec/charon --version) 2>/dev/null | head -1",
  "echo '### ethtool'; command -v ethtool >/dev/null && echo present || echo missing",
  'for i in $(ls /sys/class/net); do [ "$i" = lo ] && continue; echo "### nic $i"; ethtool -i "$i" 2>/dev/null; echo \'### features\'; ethtool -k "$i" 2>/dev/null | grep -E \'^(esp|tx-esp)\'; done',
].join("; ");

export function splitSections(out: string): { name: string; body: string }[] {
  const parts: { name: string; body: string }[] = [];
  for (const chunk of out.split(/^### /m).slice(1)) {
    const nl = chunk.indexOf("\n");
    parts.push({ name: (nl < 0 ? chunk : chunk.slice(0, nl)).trim(), body: nl < 0 ? "" : chunk.slice(nl + 1) });
  }
  return parts;
}

/** Pure: the facts script's output -> HostFacts. */
export function parseHostFacts(out: string): HostFacts {
  const secs = splitSections(out);
  const sec = (n: string) => secs.find((s) => s.name === n)?.body ?? "";
  const nics: HostFacts["nics"] = [];
  for (let i = 0; i < secs.length; i++) {
    const s = secs[i]!;
    if (!s.name.startsWith("nic ")) continue;
    const features = secs[i + 1]?.name === "features" ? secs[i + 1]!.body : "";
    nics.push({ name: s.name.slice(4), driver: parseEthtoolInfo(s.body), ...parseEthtoolFeatures(features) });
  }
  const xfrm = sec("xfrm_stat");
  return {
    kernel: sec("uname").trim(),
    cpuFlags: parseCpuinfo(sec("cpuinfo")),
    kernelAlgorithms: parseProcCrypto(sec("crypto")),
    nics,
    strongswanVersion: parseStrongswanVersion(sec("strongswan")),
    xfrmStat: xfrm.trim() ? parseXfrmStat(xfrm) : undefined,
  };
}

export function create(ctx: DriverContext): Driver {
  let conn: SshConnection | undefined;
  const readOnly = (op: string) =>
    new UnsupportedError(`${ctx.device}: the linux-host driver is read-only (${op}); the host mesh is changed through VICI`, {
      device: ctx.device,
      driver: name,
      operation: op,
    });
  return {
    name,
    device: ctx.device,
    flags,
    async connect() {
      conn = await ctx.ssh();
    },
    async close() {
      conn = undefined; // the pool owns the connection
    },
    async facts(): Promise<DeviceFacts> {
      conn ??= await ctx.ssh();
      const out = await conn.run(FACTS_SCRIPT, ctx.commandTimeoutMs);
      return { device: ctx.device, driver: name, reachable: true, observedAt: ctx.now().toISOString(), host: parseHostFacts(out) };
    },
    async linkSecurity(): Promise<LinkSecurityState[]> {
      return [
        {
          port: "mesh",
          status: "unknown",
          detail: "host mesh state is read over VICI by `linkcrypt mesh verify`",
          observedAt: ctx.now().toISOString(),
        },
      ];
    },
    loadCandidate: async () => {
      throw readOnly("loadCandidate");
    },
    diff: async () => {
      throw readOnly("diff");
    },
    commit: async () => {
      throw readOnly("commit");
    },
    confirm: async () => {
      throw readOnly("confirm");
    },
    rollback: async () => {
      throw readOnly("rollback");
    },
  };
}

/** What the registry knows of this driver (drivers/contract.ts). */
export const descriptor: DriverDescriptor = {
  name,
  kind: "host",
  create,
  optionsSchema,
  suiteNames: {},
};
