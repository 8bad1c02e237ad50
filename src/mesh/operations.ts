import type { MeshPlan } from "../planner/plan-types.js";
import type { ViciClient } from "../transport/vici.js";
import { join } from "node:path";
import { parseXfrmStat } from "../../drivers/linux-host/parsers/xfrm-stat.js";
import { outboundProtection, parseXfrmPolicies, type Protection } from "../../drivers/linux-host/parsers/xfrm-policy.js";
import { renderSwanctlConf } from "../render/swanctl.js";
import { CONF_FILE } from "./deliver.js";
import { checkPairs, xfrmStatDeltas, type PairFinding } from "./check-pairs.js";
import { parseXfrmStateSpis } from "../../drivers/linux-host/parsers/xfrm-state.js";
import { connName, pairClassIndex, SHUNT_PRIORITY } from "../planner/conn-spec.js";
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

export async function collectTables(
  hosts: readonly HostAccess[],
): Promise<{ tables: HostSaTable[]; errors: { host: string; error: string }[] }> {
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
  /** Raw /proc/net/xfrm_stat counters as the kernel reports them (monotonic since boot). */
  xfrmStat?: Record<string, number>;
  /** Per peer: what the kernel's outbound policy does with this host's packets to it (`ip xfrm policy`). */
  protection?: Record<string, Protection>;
  /** xfrm_stat counters that grew since the previous verify, with likely causes. */
  xfrmDeltas: { counter: string; delta: number; cause: string }[];
}

/** A `mesh down --clear` exception, recorded on every host it covers until `mesh up`. */
export interface MeshException {
  mode: "clear";
  mesh: string;
  reason: string;
  who: string;
  when: string;
  hosts: string[];
}

export const EXCEPTION_FILE = "linkcrypt-exception.json";

/** A host's `mesh down --clear` exception record, or undefined when the text is none, not JSON or not one. */
export function parseException(text: string | undefined): MeshException | undefined {
  if (!text) return undefined;
  try {
    const j = JSON.parse(text) as Partial<MeshException>;
    if (j.mode !== "clear" || typeof j.reason !== "string" || typeof j.when !== "string" || !Array.isArray(j.hosts)) return undefined;
    return {
      mode: "clear",
      mesh: String(j.mesh ?? ""),
      reason: j.reason,
      who: String(j.who ?? "unknown"),
      when: j.when,
      hosts: j.hosts.map(String),
    };
  } catch {
    return undefined;
  }
}

export async function verifyMesh(
  mesh: MeshPlan,
  hosts: readonly HostAccess[],
  o: { idleAfterS?: number } = {},
): Promise<{
  findings: PairFinding[];
  errors: { host: string; error: string }[];
  tables: HostSaTable[];
  kernel: KernelReport[];
  exceptions: MeshException[];
}> {
  const { tables, errors } = await collectTables(hosts);
  const kernelSpis = new Map<string, Set<string>>();
  const protection = new Map<string, Map<string, Protection>>();
  const kernel: KernelReport[] = [];
  const exceptions = new Map<string, MeshException>();
  const addrOf = new Map(mesh.members.map((m) => [m.name, m.ipv4 ?? m.ipv6 ?? ""]));
  await Promise.all(
    hosts.map(async (h) => {
      const ex = parseException(await h.readFile(join(h.confDir, EXCEPTION_FILE)).catch(() => undefined));
      if (ex) exceptions.set(`${ex.when}|${ex.reason}`, ex);
      const t = tables.find((x) => x.host === h.name);
      if (!h.exec || !t) return;
      try {
        const usesKernel = !t.plugins.includes("kernel-libipsec");
        const report: KernelReport = { host: h.name, comparedSpis: usesKernel, xfrmDeltas: [] };
        // One round trip for the kernel's view: SAs, policies and counters.
        const SEP = "=====linkcrypt=====";
        const [stateText = "", policyText = "", statText = ""] = (
          await h.exec(
            usesKernel
              ? `ip xfrm state; echo ${SEP}; ip xfrm policy; echo ${SEP}; cat /proc/net/xfrm_stat`
              : `echo ${SEP}; echo ${SEP}; cat /proc/net/xfrm_stat`,
          )
        ).split(`${SEP}\n`);
        if (usesKernel) {
          kernelSpis.set(h.name, parseXfrmStateSpis(stateText));
          const pols = parseXfrmPolicies(policyText);
          const mine = new Map<string, Protection>();
          const self = addrOf.get(h.name) ?? "";
          for (const m of mesh.members)
            if (m.name !== h.name) mine.set(m.name, outboundProtection(pols, self, addrOf.get(m.name) ?? "").protection);
          protection.set(h.name, mine);
          report.protection = Object.fromEntries(mine);
        }
        const now = parseXfrmStat(statText);
        report.xfrmStat = now;
        const file = join(h.confDir, "linkcrypt-xfrm-stat.json");
        const before = JSON.parse((await h.readFile(file)) ?? "{}") as Record<string, number>;
        await h.writeFile(file, `${JSON.stringify(now)}\n`, 0o644);
        report.xfrmDeltas = Object.keys(before).length ? xfrmStatDeltas(before, now) : [];
        kernel.push(report);
      } catch (e) {
        errors.push({ host: h.name, error: `kernel state: ${(e as Error).message}` });
      }
    }),
  );
  const exList = [...exceptions.values()];
  const exceptionFor = (a: string, b: string) => exList.find((x) => x.hosts.includes(a) || x.hosts.includes(b));
  const findings = checkPairs(espPairs(mesh), tables, {
    idleAfterS: o.idleAfterS ?? mesh.ike.dpdSeconds * 10,
    ...(kernelSpis.size ? { kernelSpis } : {}),
    ...(protection.size
      ? {
          protection,
          exceptionFor: (a: string, b: string) => {
            const x = exceptionFor(a, b);
            return x ? `${x.reason} (by ${x.who}, ${x.when})` : undefined;
          },
        }
      : {}),
  });
  return { findings, errors, tables, kernel: kernel.sort((a, b) => (a.host < b.host ? -1 : 1)), exceptions: exList };
}

/**
 * Re-establish only the given pairs: tear down what each side has for the pair, then initiate from the initiator.
 * The initiator's side goes first, so its DELETE reaches the responder; tearing down the responder first would make
 * the initiator's `close_action = start` re-initiate in the middle of the repair.
 */
export async function repairPairs(
  pairs: readonly { a: string; b: string }[],
  hosts: readonly HostAccess[],
): Promise<{ pair: string; ok: boolean; detail: string }[]> {
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
      const vi = await hi.vici();
      try {
        await vi.request("terminate", { ike: connName(resp), force: "yes", timeout: "2000" }).catch(() => undefined);
        await withVici(hr, (v) => v.request("terminate", { ike: connName(ini), force: "yes", timeout: "2000" }).catch(() => undefined));
        await vi.request("initiate", { ike: connName(resp), child: connName(resp), timeout: "10000", "init-limits": "no" });
      } finally {
        vi.close();
      }
      out.push({ pair: `${ini}~${resp}`, ok: true, detail: `re-initiated from ${ini}` });
    } catch (e) {
      out.push({ pair: `${ini}~${resp}`, ok: false, detail: (e as Error).message });
    }
  }
  return out;
}

/**
 * Emergency down, in one of two explicit modes:
 * - `block`: terminate and unload the ESP connections and keep the drop shunts: member-to-member traffic is dropped
 *   until `mesh up`. The swanctl file keeps only the shunts, so a reboot stays blocked.
 * - `clear`: unload the shunts too: members talk unencrypted. The exception (who, when, why, which hosts) is written
 *   on every host, where verify, report and metrics read it until `mesh up` removes it.
 * Verifies that no mesh CHILD_SA is left when blocking.
 */
export async function meshDown(
  hosts: readonly HostAccess[],
  o: { blocking: boolean; mode: "block" | "clear"; exception?: MeshException },
): Promise<{ host: string; unloaded: number; remainingSas: number | null; error?: string }[]> {
  // In phases across all hosts, so no initiator's close_action re-initiates a pair while it is being taken down:
  // 1. unload the ESP connections everywhere (their traps go; the drop shunts take over);
  // 2. each initiator terminates its own IKE_SAs (a local terminate triggers no close_action; the DELETE it sends
  //    ends the responder's side, whose close_action is none);
  // 3. whatever is left (a peer that did not answer) is terminated by force; shunts go too with --clear.
  const state = new Map<string, { v: ViciClient; all: string[]; mesh: string[]; error?: string }>();
  const fail = (h: HostAccess, e: unknown) => {
    const s = state.get(h.name);
    if (s) s.error ??= (e as Error).message;
    else state.set(h.name, { v: undefined as unknown as ViciClient, all: [], mesh: [], error: (e as Error).message });
  };
  await Promise.all(
    hosts.map(async (h) => {
      try {
        const v = await h.vici();
        const { events } = await v.stream("list-conns", "list-conn");
        const all = events.flatMap((e) => Object.keys(e));
        state.set(h.name, { v, all, mesh: all.filter((n) => n.startsWith("mesh-")) });
        if (o.mode === "clear" && o.exception)
          await h.writeFile(join(h.confDir, EXCEPTION_FILE), `${JSON.stringify(o.exception, null, 2)}\n`, 0o644);
        for (const n of state.get(h.name)!.mesh) await v.request("unload-conn", { name: n });
      } catch (e) {
        fail(h, e);
      }
    }),
  );
  const terminate = (initiatorSide: boolean) =>
    Promise.all(
      hosts.map(async (h) => {
        const s = state.get(h.name);
        if (!s?.v || s.error) return;
        for (const n of s.mesh.filter((x) => h.name < x.slice("mesh-".length) === initiatorSide))
          await s.v
            .request("terminate", { ike: n, force: initiatorSide ? "no" : "yes", timeout: o.blocking ? "3000" : "-1" })
            .catch(() => undefined);
      }),
    );
  await terminate(true);
  await terminate(false);
  return Promise.all(
    hosts.map(async (h) => {
      const s = state.get(h.name);
      try {
        if (!s?.v || s.error) return { host: h.name, unloaded: 0, remainingSas: null, error: s?.error ?? "unreachable" };
        const v = s.v;
        const shuntNames = s.all.filter((n) => n.startsWith("block-"));
        if (o.mode === "clear") for (const n of shuntNames) await v.request("unload-conn", { name: n });
        // What a reboot would load: the shunts alone (block), or nothing (clear).
        const shuntSpecs = o.mode === "block" ? await currentShunts(v, shuntNames) : [];
        await h.writeFile(join(h.confDir, CONF_FILE), renderSwanctlConf(h.name, [], shuntSpecs), 0o644);
        // An IKE_SA still waiting for its DELETE answer (a slow peer) is forced down, for up to about 3 s.
        let remaining: number | null = null;
        for (let i = 0; o.blocking && i < 6; i++) {
          const left = (await readSaTable(h.name, v)).children.filter((c) => c.conn.startsWith("mesh-"));
          remaining = left.length;
          if (!left.length) break;
          for (const conn of new Set(left.map((c) => c.conn)))
            await v.request("terminate", { ike: conn, force: "yes", timeout: "-1" }).catch(() => undefined);
          await new Promise((t) => setTimeout(t, 500));
        }
        if (o.blocking && remaining) remaining = (await readSaTable(h.name, v)).children.filter((c) => c.conn.startsWith("mesh-")).length;
        return { host: h.name, unloaded: s.mesh.length + (o.mode === "clear" ? shuntNames.length : 0), remainingSas: remaining };
      } catch (e) {
        return { host: h.name, unloaded: 0, remainingSas: null, error: (e as Error).message };
      } finally {
        s?.v?.close();
      }
    }),
  );
}

/** The loaded drop shunts, read back from charon (list-conns), as specs to render. */
async function currentShunts(v: ViciClient, names: readonly string[]): Promise<import("../planner/conn-spec.js").ShuntSpec[]> {
  if (!names.length) return [];
  const { events } = await v.stream("list-conns", "list-conn");
  const out: import("../planner/conn-spec.js").ShuntSpec[] = [];
  for (const e of events)
    for (const [name, conn] of Object.entries(e)) {
      if (!names.includes(name) || typeof conn !== "object" || Array.isArray(conn)) continue;
      const kids = (conn.children ?? {}) as Record<string, { "local-ts"?: string[]; "remote-ts"?: string[] }>;
      out.push({
        name,
        peer: name.slice("block-".length),
        priority: SHUNT_PRIORITY,
        children: Object.entries(kids).map(([cn, c]) => ({
          name: cn,
          localTs: c["local-ts"]?.[0] ?? "",
          remoteTs: c["remote-ts"]?.[0] ?? "",
        })),
      });
    }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** `mesh up` ends a `--clear` exception: remove its record from the hosts. */
export async function clearException(hosts: readonly HostAccess[]): Promise<void> {
  await Promise.all(
    hosts.map((h) =>
      h.exec
        ? h.exec(`rm -f '${join(h.confDir, EXCEPTION_FILE)}'`).catch(() => undefined)
        : h.writeFile(join(h.confDir, EXCEPTION_FILE), "", 0o644).catch(() => undefined),
    ),
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
            host: h.name,
            reachable: true,
            conns: events.flatMap((e) => Object.keys(e)).filter((n) => n.startsWith("mesh-")).length,
            ikeEstablished: t.ike.filter((i) => i.conn.startsWith("mesh-") && i.state === "ESTABLISHED").length,
            childrenInstalled: t.children.filter((c) => c.conn.startsWith("mesh-") && c.state === "INSTALLED").length,
            halfOpen: t.halfOpen,
          };
        });
      } catch (e) {
        return {
          host: h.name,
          reachable: false,
          conns: 0,
          ikeEstablished: 0,
          childrenInstalled: 0,
          halfOpen: 0,
          error: (e as Error).message,
        };
      }
    }),
  );
}
