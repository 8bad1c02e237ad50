import type { MeshPlan } from "../planner/plan-types.js";
import type { ViciClient } from "../transport/vici.js";
import { join } from "node:path";
import { parseXfrmStat } from "../../drivers/linux-host/parsers/xfrm-stat.js";
import { checkPairs, xfrmStatDeltas, type PairFinding } from "./check-pairs.js";
import { parseXfrmStateSpis } from "./xfrm-state.js";
import { connName, pairClassIndex } from "./conn-spec.js";
import type { HostAccess } from "./host-access.js";
import { readSaTable, type HostSaTable } from "./sa-table.js";

/** Every pair of the mesh that the plan protects with ESP, as [initiator, responder] (lower name first). */
export function espPairs(mesh: MeshPlan, only?: ReadonlySet<string>): [string, string][] {
  const lookup = pairClassIndex(mesh);
  const names = mesh.members.map((m) => m.name).sort();
  const out: [string, string][] = [];
  for (let i = 0; i < names.length; i++)
    for (let j = i + 1; j < names.length; j++) {
      const [a, b] = [names[i]!, names[j]!];
      if (only && !only.has(a) && !only.has(b)) continue;
      if (lookup(a, b)?.pc.method === "esp") out.push([a, b]);
    }
  return out;
}

async function withVici<T>(h: HostAccess, fn: (v: ViciClient) => Promise<T>): Promise<T> {
  const v = await h.vici();
  try {
    return await fn(v);
  } finally {
    v.close();
  }
}

export async function collectTables(hosts: readonly HostAccess[]): Promise<{ tables: HostSaTable[]; errors: { host: string; error: string }[] }> {
  const tables: HostSaTable[] = [];
  const errors: { host: string; error: string }[] = [];
  await Promise.all(
    hosts.map((h) =>
      withVici(h, (v) => readSaTable(h.name, v)).then(
        (t) => tables.push(t),
        (e: Error) => errors.push({ host: h.name, error: e.message }),
      ),
    ),
  );
  tables.sort((a, b) => (a.host < b.host ? -1 : 1));
  return { tables, errors };
}

export interface KernelReport {
  host: string;
  /** Whether daemon SPIs were compared with `ip xfrm state` (not for kernel-libipsec daemons). */
  comparedSpis: boolean;
  /** xfrm_stat counters that grew since the previous verify, with likely causes. */
  xfrmDeltas: { counter: string; delta: number; cause: string }[];
}

export async function verifyMesh(mesh: MeshPlan, hosts: readonly HostAccess[], o: { idleAfterS?: number } = {}): Promise<{ findings: PairFinding[]; errors: { host: string; error: string }[]; tables: HostSaTable[]; kernel: KernelReport[] }> {
  const { tables, errors } = await collectTables(hosts);
  const kernelSpis = new Map<string, Set<string>>();
  const kernel: KernelReport[] = [];
  await Promise.all(
    hosts.map(async (h) => {
      const t = tables.find((x) => x.host === h.name);
      if (!h.exec || !t) return;
      try {
        const usesKernel = !t.plugins.includes("kernel-libipsec");
        if (usesKernel) kernelSpis.set(h.name, parseXfrmStateSpis(await h.exec("ip xfrm state")));
        const now = parseXfrmStat(await h.exec("cat /proc/net/xfrm_stat"));
        const file = join(h.confDir, "linkcrypt-xfrm-stat.json");
        const before = JSON.parse((await h.readFile(file)) ?? "{}") as Record<string, number>;
        await h.writeFile(file, `${JSON.stringify(now)}\n`, 0o644);
        kernel.push({ host: h.name, comparedSpis: usesKernel, xfrmDeltas: Object.keys(before).length ? xfrmStatDeltas(before, now) : [] });
      } catch (e) {
        errors.push({ host: h.name, error: `kernel state: ${(e as Error).message}` });
      }
    }),
  );
  const findings = checkPairs(espPairs(mesh), tables, { idleAfterS: o.idleAfterS ?? mesh.ike.dpdSeconds * 10, ...(kernelSpis.size ? { kernelSpis } : {}) });
  return { findings, errors, tables, kernel: kernel.sort((a, b) => (a.host < b.host ? -1 : 1)) };
}

/** Re-establish only the given pairs: tear down what each side has for the pair, then initiate from the initiator. */
export async function repairPairs(pairs: readonly { a: string; b: string }[], hosts: readonly HostAccess[]): Promise<{ pair: string; ok: boolean; detail: string }[]> {
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const out: { pair: string; ok: boolean; detail: string }[] = [];
  for (const { a, b } of pairs) {
    const [ini, resp] = a < b ? [a, b] : [b, a];
    const hi = byName.get(ini);
    const hr = byName.get(resp);
    if (!hi || !hr) {
      out.push({ pair: `${a}~${b}`, ok: false, detail: "a host of the pair is not reachable" });
      continue;
    }
    try {
      await withVici(hr, (v) => v.request("terminate", { ike: connName(ini), force: "yes", timeout: "2000" }).catch(() => undefined));
      await withVici(hi, async (v) => {
        await v.request("terminate", { ike: connName(resp), force: "yes", timeout: "2000" }).catch(() => undefined);
        await v.request("initiate", { ike: connName(resp), child: connName(resp), timeout: "10000", "init-limits": "no" });
      });
      out.push({ pair: `${ini}~${resp}`, ok: true, detail: `re-initiated from ${ini}` });
    } catch (e) {
      out.push({ pair: `${ini}~${resp}`, ok: false, detail: (e as Error).message });
    }
  }
  return out;
}

/** Emergency down: terminate and unload every mesh connection on the given hosts. Verifies when blocking. */
export async function meshDown(hosts: readonly HostAccess[], o: { blocking: boolean }): Promise<{ host: string; unloaded: number; remainingSas: number | null; error?: string }[]> {
  return Promise.all(
    hosts.map(async (h) => {
      try {
        return await withVici(h, async (v) => {
          const { events } = await v.stream("list-conns", "list-conn");
          const names = events.flatMap((e) => Object.keys(e)).filter((n) => n.startsWith("mesh-"));
          for (const n of names) {
            await v.request("terminate", { ike: n, force: "yes", timeout: o.blocking ? "3000" : "-1" }).catch(() => undefined);
            await v.request("unload-conn", { name: n });
          }
          const remaining = o.blocking ? (await readSaTable(h.name, v)).children.filter((c) => c.conn.startsWith("mesh-")).length : null;
          return { host: h.name, unloaded: names.length, remainingSas: remaining };
        });
      } catch (e) {
        return { host: h.name, unloaded: 0, remainingSas: null, error: (e as Error).message };
      }
    }),
  );
}

export interface HostStatus {
  host: string;
  reachable: boolean;
  conns: number;
  ikeEstablished: number;
  childrenInstalled: number;
  halfOpen: number;
  error?: string;
}

export async function meshStatus(hosts: readonly HostAccess[]): Promise<HostStatus[]> {
  return Promise.all(
    hosts.map(async (h) => {
      try {
        return await withVici(h, async (v) => {
          const { events } = await v.stream("list-conns", "list-conn");
          const t = await readSaTable(h.name, v);
          return {
            host: h.name, reachable: true,
            conns: events.flatMap((e) => Object.keys(e)).filter((n) => n.startsWith("mesh-")).length,
            ikeEstablished: t.ike.filter((i) => i.conn.startsWith("mesh-") && i.state === "ESTABLISHED").length,
            childrenInstalled: t.children.filter((c) => c.conn.startsWith("mesh-") && c.state === "INSTALLED").length,
            halfOpen: t.halfOpen,
          };
        });
      } catch (e) {
        return { host: h.name, reachable: false, conns: 0, ikeEstablished: 0, childrenInstalled: 0, halfOpen: 0, error: (e as Error).message };
      }
    }),
  );
}
