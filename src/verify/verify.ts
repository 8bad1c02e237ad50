import type { LinkSecurityState } from "../../drivers/contract.js";
import { endEvidence, pairEvidence, type EndEvidence, type PairSaEvidence } from "../report/evidence.js";
import { connName } from "../planner/conn-spec.js";
import { driverFor, type AccessOptions } from "../devices/device-access.js";
import type { Inventory } from "../model/inventory-schema.js";
import type { ProfileSet } from "../model/load-profiles.js";
import type { HostAccess } from "../mesh/host-access.js";
import { espPairs, verifyMesh, type MeshException } from "../mesh/operations.js";
import { type LimitScope, selectPairs } from "../discover/limit-targets.js";
import type { LinkPlan, Plan } from "../planner/plan-types.js";
import { SshPool } from "../transport/ssh.js";

/**
 * `linkcrypt verify`: the operational state behind the plan, read through the drivers. Every link and mesh pair is
 * marked secured, degraded, unsecured or unknown, with the evidence and when it was observed.
 */
export type VerifyStatus = "secured" | "degraded" | "unsecured" | "unknown";

export interface VerifyEntry {
  kind: "link" | "pair";
  name: string;
  method: string;
  status: VerifyStatus;
  evidence: string[];
  /** L1 key age where observed, seconds. */
  keyAgeSeconds?: number;
  observedAt: string;
  /** Structured positive evidence per link end (MKA peer, key number, key age) or for the pair's SAs. */
  ends?: EndEvidence[];
  sa?: PairSaEvidence;
}

export interface VerifyReport {
  format: "linkcrypt-verify";
  version: 1;
  /** Provenance: which inventory (name; digest in `plan`), which tool, and when collection started. */
  inventory?: string;
  generator?: string;
  startedAt?: string;
  plan: Plan["inputs"];
  observedAt: string;
  entries: VerifyEntry[];
  /** Per mesh host: SA counts, and xfrm_stat counters that grew since the previous verify. */
  hosts?: {
    mesh: string;
    host: string;
    ikeSas: number;
    childSas: number;
    halfOpen: number;
    xfrmDeltas: { counter: string; delta: number }[];
    xfrmStat?: Record<string, number>;
  }[];
  /** `mesh down --clear` exceptions in force when verify ran (who, when, why, which hosts). */
  exceptions?: MeshException[];
  /** `--limit`: the pattern, and the links and mesh pairs it left out (not verified, not in `entries`). */
  limit?: { pattern: string; limitedOut: { links: string[]; pairs: string[] } };
}

function combine(states: (LinkSecurityState | undefined)[]): VerifyStatus {
  const s = states.map((x) => x?.status ?? "unknown");
  if (s.every((x) => x === "secured")) return "secured";
  if (s.some((x) => x === "secured")) return "degraded";
  if (s.some((x) => x === "unknown" || x === "pending")) return s.some((x) => x === "unsecured") ? "unsecured" : "unknown";
  return "unsecured";
}

export async function verifyInventory(
  plan: Plan,
  inv: Inventory,
  profiles: ProfileSet,
  o: {
    access: AccessOptions;
    /** How to reach a mesh's members; with `only`, just those hosts. */
    meshHosts: (mesh: string, only?: ReadonlySet<string>) => HostAccess[];
    now: () => Date;
    /** `--limit`: verify only the links and pairs it selects, and contact only their devices and hosts. */
    limit?: LimitScope;
  },
): Promise<VerifyReport> {
  const pool = new SshPool();
  const at = () => o.now().toISOString();
  const startedAt = at();
  const entries: VerifyEntry[] = [];
  const hostStats: NonNullable<VerifyReport["hosts"]> = [];
  const exceptions: MeshException[] = [];
  const device = (n: string) => inv.devices.find((d) => d.name === n)!;
  const read = async (dev: string, port: string): Promise<LinkSecurityState | { error: string }> => {
    try {
      const d = driverFor(device(dev), profiles, pool, o.access);
      try {
        // A device that answers but has nothing configured for the port: the link is not encrypted there.
        return (
          (await d.linkSecurity()).find((s) => s.port === port) ?? {
            port,
            status: "unsecured",
            detail: "no encryption configured on this port",
            observedAt: at(),
          }
        );
      } finally {
        await d.close().catch(() => undefined);
      }
    } catch (e) {
      return { error: (e as Error).message };
    }
  };
  const linkEntry = async (l: LinkPlan): Promise<VerifyEntry> => {
    const base = { kind: "link" as const, name: l.name, method: l.method };
    if (l.method === "none" || l.method === "refused")
      return {
        ...base,
        status: "unsecured",
        evidence: [
          l.method === "none" ? "the plan leaves this link unencrypted (the policy allows it)" : "the plan could not encrypt this link",
        ],
        observedAt: at(),
      };
    if (l.method === "host-mesh")
      return {
        ...base,
        status: "unknown",
        evidence: [`protected only for mesh ${l.mesh} members: see that mesh's pairs`],
        observedAt: at(),
      };
    const ends: [string, string][] =
      l.method === "macsec"
        ? [
            [l.a.split(":")[0]!, l.a.slice(l.a.indexOf(":") + 1)],
            [l.b.split(":")[0]!, l.b.slice(l.b.indexOf(":") + 1)],
          ]
        : l.l1!.encryptors.map((e) => [e, "line"] as [string, string]);
    const got = await Promise.all(ends.map(([d, p]) => read(d, p)));
    const evidence = got.map((g, i) =>
      "error" in g
        ? `${ends[i]![0]}: ${g.error}`
        : `${ends[i]![0]} ${g.port}: ${g.status}${g.cipher ? ` ${g.cipher}` : ""}${g.keyAgeSeconds !== undefined ? `, key age ${g.keyAgeSeconds} s` : ""} (${g.detail})`,
    );
    const states = got.map((g) => ("error" in g ? undefined : g));
    const ages = states.map((s) => s?.keyAgeSeconds).filter((x): x is number => x !== undefined);
    return {
      ...base,
      status: combine(states),
      evidence,
      ends: got.map((g, i) => endEvidence(ends[i]![0], ends[i]![1], g)),
      ...(ages.length ? { keyAgeSeconds: Math.max(...ages) } : {}),
      observedAt: at(),
    };
  };
  const limitedLinks: string[] = [];
  const limitedPairs: string[] = [];
  const links = plan.links.filter((l) => {
    const keep = !o.limit || o.limit.selection.links.has(l.name);
    if (!keep) limitedLinks.push(l.name);
    return keep;
  });
  try {
    entries.push(...(await Promise.all(links.map(linkEntry))));
    for (const m of plan.meshes) {
      // With --limit: the selected pairs, and only their two hosts are contacted (a pair is judged from both ends).
      const pairs = o.limit ? selectPairs(o.limit, inv, espPairs(m)) : undefined;
      if (pairs) for (const [a, b] of espPairs(m)) if (!pairs.has(`${a}~${b}`)) limitedPairs.push(`${m.name}:${a}~${b}`);
      if (pairs && pairs.size === 0) continue;
      const only = pairs ? new Set([...pairs].flatMap((p) => p.split("~"))) : undefined;
      const hosts = o.meshHosts(m.name, only);
      const inScope = (f: { a: string; b: string }) => !pairs || pairs.has(`${f.a}~${f.b}`) || pairs.has(`${f.b}~${f.a}`);
      const r = await verifyMesh(m, hosts).catch((e: Error) => ({
        findings: [],
        errors: [{ host: "*", error: e.message }],
        tables: [],
        kernel: [],
        exceptions: [] as MeshException[],
      }));
      exceptions.push(...r.exceptions);
      for (const f of r.findings.filter(inScope))
        entries.push({
          kind: "pair",
          name: `${m.name}:${f.a}~${f.b}`,
          method: "host-mesh",
          status:
            f.status === "up" || f.status === "idle"
              ? "secured"
              : f.status === "down" || f.status === "cleartext-possible"
                ? "unsecured"
                : f.status === "unknown"
                  ? "unknown"
                  : "degraded",
          evidence: [`${f.status}: ${f.detail}`],
          sa: pairEvidence(f, r.tables, connName(f.b)),
          observedAt: at(),
        });
      for (const e of r.errors)
        entries.push({
          kind: "pair",
          name: `${m.name}:${e.host}`,
          method: "host-mesh",
          status: "unknown",
          evidence: [e.error],
          observedAt: at(),
        });
      for (const t of r.tables)
        hostStats.push({
          mesh: m.name,
          host: t.host,
          ikeSas: t.ike.filter((i) => i.conn.startsWith("mesh-") && i.state === "ESTABLISHED").length,
          childSas: t.children.filter((c) => c.conn.startsWith("mesh-") && c.state === "INSTALLED").length,
          halfOpen: t.halfOpen,
          xfrmDeltas: (r.kernel.find((k) => k.host === t.host)?.xfrmDeltas ?? []).map((d) => ({ counter: d.counter, delta: d.delta })),
          ...(r.kernel.find((k) => k.host === t.host)?.xfrmStat ? { xfrmStat: r.kernel.find((k) => k.host === t.host)!.xfrmStat! } : {}),
        });
    }
  } finally {
    await pool.closeAll();
  }
  return {
    format: "linkcrypt-verify",
    version: 1,
    inventory: plan.inventory,
    generator: plan.generator,
    startedAt,
    plan: plan.inputs,
    observedAt: at(),
    entries,
    hosts: hostStats,
    ...(exceptions.length ? { exceptions } : {}),
    ...(o.limit ? { limit: { pattern: o.limit.limit.source, limitedOut: { links: limitedLinks, pairs: limitedPairs } } } : {}),
  };
}
