import type { DriverContext } from "../../drivers/registry.js";
import { driverFactory } from "../../drivers/registry.js";
import { LinkcryptError } from "../errors.js";
import type { DeviceEntry, Inventory } from "../model/inventory-schema.js";
import type { ProfileSet } from "../model/load-profiles.js";
import { FACTS_FORMAT, type FactsFile } from "../model/facts.js";
import { resolveSecret } from "../secrets.js";
import { DeviceLimiter, type LimiterOptions } from "../transport/limiter.js";
import { SnmpSession } from "../transport/snmp.js";
import { SshPool } from "../transport/ssh.js";
import { sshFor, type AccessOptions } from "./device-access.js";

/**
 * Connects to every managed device under the rate limits and asks its driver for facts. A device that can't be
 * reached (or whose driver is missing) is recorded with its error; the rest still complete.
 */
export interface DiscoverOptions extends AccessOptions {
  limits: LimiterOptions;
  now: () => Date;
  onProgress?: (device: string, ok: boolean, done: number, total: number) => void;
}

export interface DiscoverResult {
  facts: FactsFile;
  skipped: { device: string; why: string }[];
}

export async function discover(inv: Inventory, profiles: ProfileSet, o: DiscoverOptions): Promise<DiscoverResult> {
  const pool = new SshPool();
  const limiter = new DeviceLimiter(o.limits);
  const devices: FactsFile["devices"] = {};
  const skipped: DiscoverResult["skipped"] = [];
  const managed = inv.devices.filter((d) => {
    if (!d.management) skipped.push({ device: d.name, why: "no management address" });
    return d.management !== undefined;
  });
  let done = 0;
  await Promise.all(
    managed.map((d) =>
      limiter
        .schedule(d.name, async () => {
          const profile = profileOf(d, profiles);
          const driverName = (profile as { driver?: string } | undefined)?.driver;
          const factory = driverName ? driverFactory(driverName) : undefined;
          if (!factory) throw new LinkcryptError("E_UNSUPPORTED", `${d.name}: driver "${driverName ?? "?"}" (profile ${d.profile}) is not available in this version`, { device: d.name });
          const driver = factory(contextFor(d, profile as Record<string, unknown>, pool, o));
          await driver.connect();
          try {
            return await driver.facts();
          } finally {
            await driver.close().catch(() => undefined);
          }
        })
        .then(
          (f) => {
            devices[d.name] = f;
            o.onProgress?.(d.name, true, ++done, managed.length);
          },
          (e: unknown) => {
            const err = e as Error & { code?: string };
            devices[d.name] = { reachable: false, error: { code: err instanceof LinkcryptError ? err.code : "E_INTERNAL", message: err.message } };
            o.onProgress?.(d.name, false, ++done, managed.length);
          },
        ),
    ),
  );
  await pool.closeAll();
  await limiter.stop();
  const sorted = Object.fromEntries(Object.keys(devices).sort().map((k) => [k, devices[k]!]));
  return { facts: { format: FACTS_FORMAT, version: 1, inventory: inv.name ?? "inventory", devices: sorted }, skipped };
}

function profileOf(d: DeviceEntry, p: ProfileSet): object | undefined {
  return d.kind === "switch" ? p.switches.get(d.profile) : d.kind === "l1-encryptor" ? p.l1.get(d.profile) : p.hosts.get(d.profile);
}

function contextFor(d: DeviceEntry, profile: Record<string, unknown>, pool: SshPool, o: DiscoverOptions): DriverContext {
  const m = d.management!;
  const secret = () => (d.credentials ? resolveSecret(d.credentials.secret, o.secrets, d.name) : undefined);
  return {
    device: d.name,
    profile,
    commandTimeoutMs: o.commandTimeoutMs,
    now: o.now,
    ssh: sshFor(d, pool, o),
    snmp: () => {
      const version = m.snmpVersion ?? "3";
      const s = secret();
      if (version !== "3") return SnmpSession.open({ device: d.name, host: m.address, port: m.port ?? 161, version, community: s ?? "public", timeoutMs: o.connectTimeoutMs });
      const priv = d.credentials?.privSecret ? resolveSecret(d.credentials.privSecret, o.secrets, d.name) : s;
      return SnmpSession.open({
        device: d.name, host: m.address, port: m.port ?? 161, version, timeoutMs: o.connectTimeoutMs, retries: 1,
        user: { name: d.credentials?.username ?? "linkcrypt", authProtocol: m.snmpAuth ?? "sha256", authKey: s ?? "", privProtocol: m.snmpPriv ?? "aes", privKey: priv ?? "" },
      });
    },
  };
}
