import { LinkcryptError } from "../errors.js";
import type { Inventory } from "../model/inventory-schema.js";
import type { ProfileSet } from "../model/load-profiles.js";
import { FACTS_FORMAT, type FactsFile } from "../model/facts.js";
import { DeviceLimiter, type LimiterOptions } from "../transport/limiter.js";
import { SshPool } from "../transport/ssh.js";
import { driverFor, type AccessOptions } from "../devices/device-access.js";
import { UNNAMED_INVENTORY } from "../model/resolve.js";

/**
 * Connects to every managed device under the rate limits and asks its driver for facts. A device that can't be
 * reached (or whose driver is missing) is recorded with its error; the rest still complete.
 */
export interface DiscoverOptions extends AccessOptions {
  limits: LimiterOptions;
  now: () => Date;
  onProgress?: (device: string, ok: boolean, done: number, total: number) => void;
  /** `--limit`: only these devices are contacted; the others are listed in `limitedOut`, not in the facts. */
  only?: ReadonlySet<string>;
}

export interface DiscoverResult {
  facts: FactsFile;
  skipped: { device: string; why: string }[];
  /** Devices `--limit` left out (never contacted). */
  limitedOut: string[];
}

export async function discover(inv: Inventory, profiles: ProfileSet, o: DiscoverOptions): Promise<DiscoverResult> {
  const pool = new SshPool();
  const limiter = new DeviceLimiter(o.limits);
  const devices: FactsFile["devices"] = {};
  const skipped: DiscoverResult["skipped"] = [];
  const limitedOut = o.only ? inv.devices.filter((d) => !o.only!.has(d.name)).map((d) => d.name) : [];
  const managed = inv.devices.filter((d) => {
    if (o.only && !o.only.has(d.name)) return false;
    if (!d.management) skipped.push({ device: d.name, why: "no management address" });
    // `local` hosts are reached only through their VICI socket (the lab's namespaces): there is no shell to ask.
    else if (d.management.transport === "local")
      skipped.push({
        device: d.name,
        why: "management transport local: reached through its VICI socket only, no shell to gather facts from; planned with profile defaults",
      });
    return d.management !== undefined && d.management.transport !== "local";
  });
  let done = 0;
  await Promise.all(
    managed.map((d) =>
      limiter
        .schedule(d.name, async () => {
          const driver = driverFor(d, profiles, pool, o);
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
            devices[d.name] = {
              reachable: false,
              error: { code: err instanceof LinkcryptError ? err.code : "E_INTERNAL", message: err.message },
            };
            o.onProgress?.(d.name, false, ++done, managed.length);
          },
        ),
    ),
  );
  await pool.closeAll();
  await limiter.stop();
  const sorted = Object.fromEntries(
    Object.keys(devices)
      .sort()
      .map((k) => [k, devices[k]!]),
  );
  return { facts: { format: FACTS_FORMAT, version: 1, inventory: inv.name ?? UNNAMED_INVENTORY, devices: sorted }, skipped, limitedOut };
}
