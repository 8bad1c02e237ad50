import type { LinkSecurityState } from "../../drivers/contract.js";
import type { LinkPlan, Plan } from "../planner/plan-types.js";
import type { VerifyReport } from "../verify/verify.js";

/**
 * serve's switches and L1 encryptors: which device carries which link end, a device check (the driver's
 * linkSecurity, one device at a time), and the full verify's link part, all through one limiter, so the periodic
 * device checks and the sweeps together stay under the per-device and global limits.
 */
export interface DeviceTarget {
  name: string;
  kind: "switch" | "encryptor";
  /** The link ends on this device: the link's name and the port (an encryptor's is "line"). */
  ends: { link: string; port: string }[];
}

/** What a device check reads: its link security per port. */
export type DeviceCheck = Pick<LinkSecurityState, "port" | "status" | "keyAgeSeconds" | "detail">[];

/** The limiter the device checks and the verify sweep share (src/transport/limiter.ts's DeviceLimiter fits). */
export interface DeviceScheduler {
  schedule<T>(device: string, fn: () => Promise<T>): Promise<T>;
  scheduleDevices<T>(devices: readonly string[], fn: () => Promise<T>): Promise<T>;
}

/** A link's ends as device and port, for MACsec ("sw1:et-0/0/1") and L1 (each encryptor's "line"); none otherwise. */
export function linkEnds(l: LinkPlan): { device: string; port: string }[] {
  if (l.method === "macsec") return [l.a, l.b].map((x) => ({ device: x.slice(0, x.indexOf(":")), port: x.slice(x.indexOf(":") + 1) }));
  if (l.method === "l1") return (l.l1?.encryptors ?? []).map((device) => ({ device, port: "line" }));
  return [];
}

/** Every switch and encryptor that carries an encrypted link of the plan, sorted by name. */
export function deviceTargets(plan: Plan): DeviceTarget[] {
  const out = new Map<string, DeviceTarget>();
  for (const l of plan.links)
    for (const e of linkEnds(l)) {
      let d = out.get(e.device);
      if (!d) out.set(e.device, (d = { name: e.device, kind: l.method === "l1" ? "encryptor" : "switch", ends: [] }));
      d.ends.push({ link: l.name, port: e.port });
    }
  return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

/**
 * The full verify with its link part through the shared limiter: each encrypted link is verified on its own, holding
 * both its devices' slots (as apply holds a link transaction's), then the mesh part (no switch or encryptor) once.
 * `verify` is `verifyInventory` bound to the inventory; the results are merged into one report.
 */
export async function limitedVerify(
  plan: Plan,
  limiter: DeviceScheduler,
  verify: (part: Plan) => Promise<VerifyReport>,
): Promise<VerifyReport> {
  const devices = plan.links.filter((l) => linkEnds(l).length > 0);
  const others = plan.links.filter((l) => linkEnds(l).length === 0);
  const [meshPart, ...linkParts] = await Promise.all([
    verify({ ...plan, links: others }),
    ...devices.map((l) =>
      limiter.scheduleDevices(
        linkEnds(l).map((e) => e.device),
        () => verify({ ...plan, links: [l], meshes: [] }),
      ),
    ),
  ]);
  const byName = new Map([...meshPart!.entries, ...linkParts.flatMap((r) => r.entries)].map((e) => [e.name, e]));
  return {
    ...meshPart!,
    startedAt: [meshPart!, ...linkParts].map((r) => r.startedAt ?? r.observedAt).sort()[0]!,
    observedAt: [meshPart!, ...linkParts]
      .map((r) => r.observedAt)
      .sort()
      .at(-1)!,
    // The plan's order: links first, then the mesh pairs as verify lists them.
    entries: [
      ...plan.links.map((l) => byName.get(l.name)).filter((e) => e !== undefined),
      ...meshPart!.entries.filter((e) => e.kind === "pair"),
    ],
  };
}
