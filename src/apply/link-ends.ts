import type { Driver } from "../../drivers/contract.js";
import { type AccessOptions, driverFor } from "../devices/device-access.js";
import { LinkcryptError } from "../errors.js";
import type { Inventory } from "../model/inventory-schema.js";
import type { ProfileSet } from "../model/load-profiles.js";
import type { LinkPlan } from "../planner/plan-types.js";
import type { SshPool } from "../transport/ssh.js";

/** The two devices a link's transaction runs on: the switches for MACsec, the inline encryptors for L1. */
export function transactionEnds(link: LinkPlan): [string, string] {
  return link.method === "l1" ? link.l1!.encryptors : [link.a.split(":")[0]!, link.b.split(":")[0]!];
}

/** The port (MACsec) or line (L1) each end reports the link's security for. */
export function transactionPorts(link: LinkPlan): [string, string] {
  if (link.method !== "macsec") return ["line", "line"];
  const port = (end: string) => end.split(":").slice(1).join(":");
  return [port(link.a), port(link.b)];
}

/** Builds the drivers of a link's two ends (a factory, so tests and the bench can put simulated devices here). */
export type EndsFactory = (link: LinkPlan) => { ends: [Driver, Driver]; observable: [boolean, boolean] };

/** The real ends: each device's driver from its profile, over a shared SSH pool. */
export function deviceEnds(inv: Inventory, profiles: ProfileSet, pool: SshPool, access: AccessOptions): EndsFactory {
  const device = (name: string) => {
    const d = inv.devices.find((x) => x.name === name);
    if (!d) throw new LinkcryptError("E_INPUT", `device ${name} from the plan is not in the inventory`);
    return d;
  };
  return (link) => {
    const names = transactionEnds(link);
    const ends = names.map((n) => driverFor(device(n), profiles, pool, access)) as [Driver, Driver];
    // L1 encryptors report their own state; a switch's profile may say MKA cannot be read.
    const observable = names.map((n) =>
      link.method === "macsec" ? (profiles.switches.get(device(n).profile)?.mkaObservable ?? true) : true,
    ) as [boolean, boolean];
    return { ends, observable };
  };
}
