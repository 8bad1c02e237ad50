import { homedir } from "node:os";
import { join } from "node:path";
import type { DeviceFacts } from "../../drivers/contract.js";
import { discover } from "../discover/discover.js";
import { limitScope } from "../discover/limit-targets.js";
import { hasErrors } from "../model/diagnostics.js";
import { applyFacts, type UnreachableFacts } from "../model/facts.js";
import type { Inventory } from "../model/inventory-schema.js";
import { UsageError } from "../errors.js";
import { loadAll } from "./load.js";
import { EXIT, formatDiagnostics, invalidInventory, formatTable, json, type Out } from "./output.js";
import { writeAtomically } from "./plan.js";

export interface DiscoverCliOptions {
  json?: boolean;
  out?: string;
  profiles: string[];
  knownHosts?: string;
  acceptNewHostKey?: boolean;
  secrets?: string;
  concurrency?: string;
  perDevice?: string;
  perDeviceInterval?: string;
  timeout?: string;
  limit?: string;
  sshConfig?: string;
}

function positive(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${name} must be a positive number, got "${v}"`);
  return n;
}

/** `linkcrypt discover INVENTORY`: facts from every managed device, conflicts with the inventory, and a facts file. */
export async function runDiscover(file: string, o: DiscoverCliOptions, out: Out, err: Out): Promise<number> {
  const l = loadAll(file, o.profiles);
  if (!l.model || !l.profiles || hasErrors(l.diagnostics)) {
    out.write(invalidInventory(file, l.diagnostics, o.json, "not valid; nothing discovered"));
    return EXIT.problems;
  }
  const inv = l.data as Inventory;
  // --limit is checked before anything is contacted: a term that matches nothing exits 64 naming it.
  const scope = limitScope(inv, o.limit);
  const timeoutS = positive("--timeout", o.timeout, 10);
  const interactive = !o.json && process.stderr.isTTY === true;
  const r = await discover(inv, l.profiles, {
    ...(scope ? { only: scope.devices } : {}),
    ...(o.sshConfig ? { sshConfigFile: o.sshConfig } : {}),
    knownHostsFile: o.knownHosts ?? process.env.LINKCRYPT_KNOWN_HOSTS ?? join(homedir(), ".ssh", "known_hosts"),
    acceptNewHostKey: o.acceptNewHostKey === true,
    secrets: { env: process.env, ...(o.secrets ? { secretsFile: o.secrets } : {}) },
    limits: {
      globalConcurrency: positive("--concurrency", o.concurrency, 8),
      perDeviceConcurrency: positive("--per-device", o.perDevice, 1),
      perDeviceMinTimeMs: o.perDeviceInterval === undefined ? 0 : Number(o.perDeviceInterval) /* 0..1 h, checked when parsed */,
    },
    connectTimeoutMs: timeoutS * 1000,
    commandTimeoutMs: timeoutS * 3000,
    now: () => new Date(),
    onProgress: (device, ok, done, total) => {
      if (!o.json)
        err.write(`${interactive ? "\r" : ""}[${done}/${total}] ${device} ${ok ? "ok" : "FAILED"}${interactive ? "\x1b[K" : "\n"}`);
    },
  });
  if (interactive) err.write("\n");
  if (o.out) writeAtomically(o.out, json(r.facts));
  const conflicts = applyFacts(l.model, r.facts).diagnostics;
  const failed = Object.entries(r.facts.devices).filter(([, f]) => !f.reachable) as [string, UnreachableFacts][];
  const limit = scope ? { pattern: scope.limit.source, limitedOut: { devices: r.limitedOut } } : undefined;
  if (o.json) out.write(json({ facts: r.facts, skipped: r.skipped, conflicts, ...(limit ? { limit } : {}) }));
  else {
    const rows = Object.entries(r.facts.devices).map(([name, f]) => [
      name,
      f.reachable ? (f as DeviceFacts).driver : "-",
      f.reachable ? "ok" : "FAILED",
      f.reachable ? summary(f as DeviceFacts) : (f as UnreachableFacts).error.message,
    ]);
    out.write(`${formatTable(["device", "driver", "result", "facts"], rows)}\n`);
    for (const s of r.skipped) out.write(`skipped ${s.device}: ${s.why}\n`);
    if (scope) out.write(`--limit ${scope.limit.source}: ${r.limitedOut.length} device(s) not contacted\n`);
    if (conflicts.length) out.write(`\nCONFLICTS AND NOTES\n${formatDiagnostics(conflicts)}`);
    if (o.out) out.write(`Facts saved to ${o.out}; use them with: linkcrypt plan ${file} --facts ${o.out}\n`);
  }
  return failed.length > 0 ? EXIT.problems : EXIT.ok;
}

function summary(f: DeviceFacts): string {
  if (f.host) {
    const aead =
      Object.keys(f.host.kernelAlgorithms)
        .filter((a) => a.includes("gcm") || a.includes("chacha"))
        .join(", ") || "no AEAD in /proc/crypto";
    const cpu = ["aes", "vaes"].filter((x) => f.host!.cpuFlags.includes(x)).join("+") || "no AES-NI";
    const nics = f.host.nics.map((n) => `${n.name}(${n.driver ?? "?"}, esp-hw-offload ${n.espHwOffload})`).join(" ") || "none";
    return `kernel ${f.host.kernel}; cpu ${cpu}; ${aead}; NICs ${nics}; strongSwan ${f.host.strongswanVersion ?? "absent"}`;
  }
  if (f.netconf)
    return `NETCONF candidate=${f.netconf.candidate} confirmed-commit=${f.netconf.confirmedCommit}; MACsec interfaces: ${f.macsecInterfaces?.join(", ") || "none"}`;
  if (f.l1)
    return `status ${f.l1.status}, ${f.l1.cipher}, key age ${f.l1.keyAgeSeconds} s (rotation every ${f.l1.rotationIntervalSeconds} s, generation ${f.l1.keyGeneration})`;
  return "";
}
