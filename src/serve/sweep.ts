import { join } from "node:path";
import { outboundProtection, parseXfrmPolicies, type Protection } from "../../drivers/linux-host/parsers/xfrm-policy.js";
import { parseXfrmStat } from "../../drivers/linux-host/parsers/xfrm-stat.js";
import { parseXfrmStateSpis } from "../../drivers/linux-host/parsers/xfrm-state.js";
import { checkPairs, type PairFinding, type PairStatus } from "../mesh/check-pairs.js";
import type { HostAccess } from "../mesh/host-access.js";
import { EXCEPTION_FILE, type MeshException, parseException } from "../mesh/operations.js";
import { saTableFromVici, type ChildSaRow, type HostSaTable } from "../mesh/sa-table.js";
import { connName, pairClassIndex } from "../planner/conn-spec.js";
import type { MeshPlan } from "../planner/plan-types.js";
import type { VerifyEntry, VerifyReport, VerifyStatus } from "../verify/verify.js";

/**
 * serve's lean sweep of a large mesh: the same pair check as `mesh verify` (checkPairs, pair by pair), without ever
 * holding every host's raw output.
 *
 * - Hosts are read in batches (`batch` at a time): each host's list-sas answer (and its kernel's SAs and policies,
 *   where it runs kernel xfrm) is reduced at once to one compact record per peer, in typed arrays, and dropped.
 *   A side in the usual shape (one IKE_SA with one CHILD_SA) costs 30 bytes (SPIs, states, child name, use and
 *   install times: what the pair check reads); any other shape keeps its rows.
 * - Pairs are then checked one at a time from two rebuilt one-peer tables, with checkPairs itself, so the verdicts
 *   are those of `mesh verify`.
 * - The result keeps a status code per pair and the detail of pairs that are not up; `leanEntries` rebuilds the
 *   verify entries when they are asked for (the status page, /api/status), never while sweeping.
 * Not done here, unlike `mesh verify`: per-pair SA evidence (SPIs and algorithms) in the entries, and the xfrm_stat
 * deltas file on each host (serve exports the kernel's counters themselves, which rate() uses).
 */
const STATUS: PairStatus[] = ["up", "half", "down", "duplicate", "stuck", "idle", "no-kernel-sa", "cleartext-possible", "unknown"];
/** Whether a lean status code is a secured pair (up or idle). */
export const leanSecured = (code: number): boolean => STATUS[code] === "up" || STATUS[code] === "idle";
const PROT: (Protection | undefined)[] = [undefined, "esp", "block", "none"];
// Kept per side: SPIs, states, child name, and the use and install times (Float32) that the liveness check reads.
// Byte and packet counters and algorithms are not: checkPairs does not read them, and the lean sweep records no SA
// evidence.
const T = 3;
/** A number a Float32 holds exactly, or undefined (kept as NaN). */
const f32 = (v: number | undefined) => v === undefined || Math.fround(v) === v;

/** Strings seen again and again (states, algorithms, child names) kept once, referred to by number. */
class Interned {
  private readonly ids = new Map<string, number>();
  readonly list: string[] = [""];
  /** Whether these strings have (or can still get) an id below 65,536. */
  fits(xs: string[]): boolean {
    return this.list.length + xs.length < 65_536 || xs.every((x) => this.ids.has(x));
  }
  id(s: string): number {
    let i = this.ids.get(s);
    if (i === undefined) {
      i = this.list.length;
      this.list.push(s);
      this.ids.set(s, i);
    }
    return i;
  }
}

interface HostInfo {
  ok: boolean;
  error?: string;
  halfOpen: number;
  plugins: string[];
  usesKernel: boolean;
  ikeSas: number;
  childSas: number;
  xfrmStat?: Record<string, number>;
}

const HEX8 = /^[0-9a-f]{8}$/;

/** One record per (host, peer) side. */
export class SideStore {
  readonly n: number;
  private readonly kind: Uint8Array; // 0: nothing for that peer, 1: compact, 2: kept as rows
  private readonly spi: Uint32Array; // in, out
  private readonly times: Float32Array;
  private readonly str: Uint16Array; // ikeState, state, child
  private readonly kern: Uint8Array; // bit 0: spiIn in the kernel, bit 1: spiOut
  private readonly prot: Uint8Array;
  private readonly rows = new Map<number, { ike: HostSaTable["ike"]; children: ChildSaRow[]; inKernel: string[] }>();
  private readonly strings = new Interned();

  constructor(readonly names: readonly string[]) {
    const n = names.length;
    this.n = n;
    this.kind = new Uint8Array(n * n);
    this.spi = new Uint32Array(n * n * 2);
    this.times = new Float32Array(n * n * T);
    this.str = new Uint16Array(n * n * 3);
    this.kern = new Uint8Array(n * n);
    this.prot = new Uint8Array(n * n);
  }

  /** Reduces one host's table (and kernel view) to its sides; the table can be dropped afterwards. */
  put(
    hi: number,
    t: HostSaTable,
    peerIndex: ReadonlyMap<string, number>,
    kernel?: { spis: ReadonlySet<string>; protection: ReadonlyMap<string, Protection> },
  ): void {
    const ikeBy = new Map<string, HostSaTable["ike"]>();
    for (const i of t.ike) {
      const l = ikeBy.get(i.conn);
      if (l) l.push(i);
      else ikeBy.set(i.conn, [i]);
    }
    const childBy = new Map<string, ChildSaRow[]>();
    for (const c of t.children) {
      const l = childBy.get(c.conn);
      if (l) l.push(c);
      else childBy.set(c.conn, [c]);
    }
    for (const [peer, pi] of peerIndex) {
      if (pi === hi) continue;
      const s = hi * this.n + pi;
      if (kernel) this.prot[s] = PROT.indexOf(kernel.protection.get(peer) ?? "none");
      const conn = connName(peer);
      const ike = ikeBy.get(conn) ?? [];
      const kids = childBy.get(conn) ?? [];
      if (!ike.length && !kids.length) continue;
      const c = kids[0];
      if (
        ike.length === 1 &&
        kids.length === 1 &&
        ike[0]!.children === 1 &&
        c!.ikeState === ike[0]!.state &&
        HEX8.test(c!.spiIn) &&
        HEX8.test(c!.spiOut) &&
        f32(c!.useIn) &&
        f32(c!.useOut) &&
        f32(c!.installTime) &&
        this.strings.fits([c!.ikeState, c!.state, c!.child])
      ) {
        this.kind[s] = 1;
        this.spi[s * 2] = Number.parseInt(c!.spiIn, 16);
        this.spi[s * 2 + 1] = Number.parseInt(c!.spiOut, 16);
        this.times[s * T] = c!.useIn ?? Number.NaN;
        this.times[s * T + 1] = c!.useOut ?? Number.NaN;
        this.times[s * T + 2] = c!.installTime ?? Number.NaN;
        this.str[s * 3] = this.strings.id(c!.ikeState);
        this.str[s * 3 + 1] = this.strings.id(c!.state);
        this.str[s * 3 + 2] = this.strings.id(c!.child);
        if (kernel) this.kern[s] = (kernel.spis.has(c!.spiIn) ? 1 : 0) | (kernel.spis.has(c!.spiOut) ? 2 : 0);
      } else {
        this.kind[s] = 2;
        const inKernel = kernel ? kids.flatMap((k) => [k.spiIn, k.spiOut]).filter((x) => kernel.spis.has(x)) : [];
        this.rows.set(s, { ike, children: kids, inKernel });
      }
    }
  }

  /** Host `hi`'s one-peer table for peer `pi`, as saTableFromVici would have made it; and that side's kernel SPIs. */
  side(hi: number, pi: number, info: HostInfo): { table: HostSaTable; kernelSpis: Set<string> } {
    const s = hi * this.n + pi;
    const base = { host: this.names[hi]!, halfOpen: info.halfOpen, plugins: info.plugins };
    if (this.kind[s] === 0) return { table: { ...base, ike: [], children: [] }, kernelSpis: new Set() };
    if (this.kind[s] === 2) {
      const r = this.rows.get(s)!;
      return { table: { ...base, ike: r.ike, children: r.children }, kernelSpis: new Set(r.inKernel) };
    }
    const conn = connName(this.names[pi]!);
    const time = (k: number) => {
      const v = this.times[s * T + k]!;
      return Number.isNaN(v) ? undefined : v;
    };
    const spiIn = this.spi[s * 2]!.toString(16).padStart(8, "0");
    const spiOut = this.spi[s * 2 + 1]!.toString(16).padStart(8, "0");
    const ikeState = this.strings.list[this.str[s * 3]!]!;
    const row: ChildSaRow = {
      conn,
      ikeState,
      child: this.strings.list[this.str[s * 3 + 2]!]!,
      state: this.strings.list[this.str[s * 3 + 1]!]!,
      spiIn,
      spiOut,
      bytesIn: 0,
      bytesOut: 0,
      packetsIn: 0,
      packetsOut: 0,
      useIn: time(0),
      useOut: time(1),
      installTime: time(2),
    };
    const kernelSpis = new Set<string>();
    if (this.kern[s]! & 1) kernelSpis.add(spiIn);
    if (this.kern[s]! & 2) kernelSpis.add(spiOut);
    return { table: { ...base, ike: [{ conn, state: ikeState, children: 1 }], children: [row] }, kernelSpis };
  }

  protection(hi: number, pi: number): Protection | undefined {
    return PROT[this.prot[hi * this.n + pi]!];
  }
}

/** A mesh's pairs as status codes, with the detail of every pair that is not up. */
export interface LeanPairs {
  mesh: string;
  names: string[];
  /** Per pair: index a * n + b into names. */
  pairs: Uint32Array;
  /** Per pair: index into the pair statuses (up, half, down, …). */
  codes: Uint8Array;
  details: Map<number, string>;
  observedAt: string;
}

export function pairVerifyStatus(s: PairStatus): VerifyStatus {
  return s === "up" || s === "idle"
    ? "secured"
    : s === "down" || s === "cleartext-possible"
      ? "unsecured"
      : s === "unknown"
        ? "unknown"
        : "degraded";
}

/** The verify entries of a lean sweep's pairs; `only` filters them before any object is made. */
export function* leanEntries(l: LeanPairs, only?: (status: VerifyStatus) => boolean): Generator<VerifyEntry> {
  const n = l.names.length;
  for (let k = 0; k < l.pairs.length; k++) {
    const f = STATUS[l.codes[k]!]!;
    const status = pairVerifyStatus(f);
    if (only && !only(status)) continue;
    const ab = l.pairs[k]!;
    yield {
      kind: "pair",
      name: `${l.mesh}:${l.names[Math.floor(ab / n)]}~${l.names[ab % n]}`,
      method: "host-mesh",
      status,
      evidence: [`${f}: ${l.details.get(k) ?? "symmetric CHILD_SAs installed on both hosts"}`],
      observedAt: l.observedAt,
    };
  }
}

export interface LeanSweepResult {
  lean: LeanPairs;
  /** Hosts that could not be read, as verify's `mesh:host` entries. */
  errors: { host: string; error: string }[];
  hosts: NonNullable<VerifyReport["hosts"]>;
  exceptions: MeshException[];
  counts: Record<VerifyStatus, number>;
}

/** Reads the mesh's hosts `batch` at a time, then checks every planned ESP pair (see the top of this file). */
export async function leanSweep(
  mesh: MeshPlan,
  hosts: readonly HostAccess[],
  o: { batch: number; idleAfterS?: number; now?: () => Date },
): Promise<LeanSweepResult> {
  const names = mesh.members.map((m) => m.name).sort();
  const index = new Map(names.map((x, i) => [x, i]));
  const store = new SideStore(names);
  const info: HostInfo[] = names.map(() => ({ ok: false, halfOpen: 0, plugins: [], usesKernel: false, ikeSas: 0, childSas: 0 }));
  const errors: LeanSweepResult["errors"] = [];
  const exceptions = new Map<string, MeshException>();
  const addrOf = new Map(mesh.members.map((m) => [m.name, m.ipv4 ?? m.ipv6 ?? ""]));
  const readOne = async (h: HostAccess) => {
    const hi = index.get(h.name);
    if (hi === undefined) return;
    const inf = info[hi]!;
    try {
      const v = await h.vici();
      let t: HostSaTable;
      try {
        const { events } = await v.stream("list-sas", "list-sa", { noblock: "yes" });
        t = saTableFromVici(h.name, events, await v.request("stats"));
      } finally {
        v.close();
      }
      inf.halfOpen = t.halfOpen;
      inf.plugins = t.plugins;
      inf.ikeSas = t.ike.filter((i) => i.conn.startsWith("mesh-") && i.state === "ESTABLISHED").length;
      inf.childSas = t.children.filter((c) => c.conn.startsWith("mesh-") && c.state === "INSTALLED").length;
      let kernel: { spis: ReadonlySet<string>; protection: ReadonlyMap<string, Protection> } | undefined;
      const text = await h.readFile(join(h.confDir, EXCEPTION_FILE)).catch(() => undefined);
      const ex = parseException(text);
      if (ex) exceptions.set(`${ex.when}|${ex.reason}`, ex);
      if (h.exec) {
        try {
          inf.usesKernel = !t.plugins.includes("kernel-libipsec");
          const SEP = "=====linkcrypt=====";
          const [stateText = "", policyText = "", statText = ""] = (
            await h.exec(
              inf.usesKernel
                ? `ip xfrm state; echo ${SEP}; ip xfrm policy; echo ${SEP}; cat /proc/net/xfrm_stat`
                : `echo ${SEP}; echo ${SEP}; cat /proc/net/xfrm_stat`,
            )
          ).split(`${SEP}\n`);
          inf.xfrmStat = parseXfrmStat(statText);
          if (inf.usesKernel) {
            const pols = parseXfrmPolicies(policyText);
            const self = addrOf.get(h.name) ?? "";
            const protection = new Map<string, Protection>();
            for (const m of mesh.members)
              if (m.name !== h.name) protection.set(m.name, outboundProtection(pols, self, addrOf.get(m.name) ?? "").protection);
            kernel = { spis: parseXfrmStateSpis(stateText), protection };
          }
        } catch (e) {
          inf.usesKernel = false;
          errors.push({ host: h.name, error: `kernel state: ${(e as Error).message}` });
        }
      }
      store.put(hi, t, index, kernel);
      inf.ok = true;
    } catch (e) {
      inf.error = (e as Error).message;
      errors.push({ host: h.name, error: inf.error });
    }
  };
  const queue = [...hosts];
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(o.batch, queue.length)) }, async () => {
      for (let h = queue.shift(); h; h = queue.shift()) await readOne(h);
    }),
  );
  const exList = [...exceptions.values()];
  const exceptionFor = (a: string, b: string) => {
    const x = exList.find((e) => e.hosts.includes(a) || e.hosts.includes(b));
    return x ? `${x.reason} (by ${x.who}, ${x.when})` : undefined;
  };
  // espPairs' order (names sorted, a < b, ESP pairs only), walked host by host instead of listed: at 1,000 hosts the
  // list alone is 499,500 arrays.
  const lookup = pairClassIndex(mesh);
  const esp = (a: string, b: string) => lookup(a, b)?.pc.method === "esp";
  let total = 0;
  for (let i = 0; i < names.length; i++) for (let j = i + 1; j < names.length; j++) if (esp(names[i]!, names[j]!)) total++;
  const pairs = new Uint32Array(total);
  const codes = new Uint8Array(total);
  const details = new Map<number, string>();
  const counts: Record<VerifyStatus, number> = { secured: 0, degraded: 0, unsecured: 0, unknown: 0 };
  const idleAfterS = o.idleAfterS ?? mesh.ike.dpdSeconds * 10;
  const record = (k: number, f: PairFinding) => {
    codes[k] = STATUS.indexOf(f.status);
    if (f.status !== "up") details.set(k, f.detail);
    counts[pairVerifyStatus(f.status)]++;
  };
  let k = 0;
  for (let ai = 0; ai < names.length; ai++) {
    const a = names[ai]!;
    // One checkPairs call per host: its sides towards every later peer, and each peer's one side towards it. Each
    // pair's verdict depends only on those two sides, so it is the verdict over all tables.
    const batch: [string, string][] = [];
    const at: number[] = [];
    const tableA: HostSaTable = { host: a, ike: [], children: [], halfOpen: info[ai]!.halfOpen, plugins: info[ai]!.plugins };
    const tables: HostSaTable[] = [tableA];
    const kernelSpis = new Map<string, Set<string>>();
    const protection = new Map<string, Map<string, Protection>>();
    const kernelA = new Set<string>();
    const protA = new Map<string, Protection>();
    for (let bi = ai + 1; bi < names.length; bi++) {
      const b = names[bi]!;
      if (!esp(a, b)) continue;
      pairs[k] = ai * names.length + bi;
      if (!info[ai]!.ok || !info[bi]!.ok) {
        record(k++, { a, b, status: "unknown", severity: "warning", detail: `no SA table from ${!info[ai]!.ok ? a : b} (unreachable?)` });
        continue;
      }
      const sa = store.side(ai, bi, info[ai]!);
      const sb = store.side(bi, ai, info[bi]!);
      tableA.ike.push(...sa.table.ike);
      tableA.children.push(...sa.table.children);
      tables.push(sb.table);
      if (info[ai]!.usesKernel) {
        for (const x of sa.kernelSpis) kernelA.add(x);
        protA.set(b, store.protection(ai, bi) ?? "none");
      }
      if (info[bi]!.usesKernel) {
        kernelSpis.set(b, sb.kernelSpis);
        protection.set(b, new Map([[a, store.protection(bi, ai) ?? "none"]]));
      }
      batch.push([a, b]);
      at.push(k++);
    }
    if (info[ai]!.usesKernel) {
      kernelSpis.set(a, kernelA);
      protection.set(a, protA);
    }
    if (batch.length) {
      const found = checkPairs(batch, tables, { idleAfterS, ...(kernelSpis.size ? { kernelSpis, protection, exceptionFor } : {}) });
      found.forEach((f, x) => void record(at[x]!, f));
    }
    // Let events and HTTP through between hosts: a sweep of 1,000 hosts must not hold the loop for seconds.
    await new Promise<void>((r) => setImmediate(r));
  }
  const observedAt = (o.now?.() ?? new Date()).toISOString();
  return {
    lean: { mesh: mesh.name, names, pairs, codes, details, observedAt },
    errors,
    hosts: names.flatMap((h, i) => {
      const x = info[i]!;
      return x.ok
        ? [
            {
              mesh: mesh.name,
              host: h,
              ikeSas: x.ikeSas,
              childSas: x.childSas,
              halfOpen: x.halfOpen,
              xfrmDeltas: [],
              ...(x.xfrmStat ? { xfrmStat: x.xfrmStat } : {}),
            },
          ]
        : [];
    }),
    exceptions: exList,
    counts,
  };
}

const LEAN = Symbol("linkcrypt.leanPairs");

/**
 * A verify report whose `entries` hold every link, every unreadable host and only the pairs that are not secured;
 * the lean sweeps behind it rebuild the rest on demand (`fullEntries`). JSON of the report is `verify --json` only
 * after `fullEntries`: serve's /api/status and page do that.
 */
export function withLean(r: VerifyReport, lean: LeanPairs[]): VerifyReport {
  Object.defineProperty(r, LEAN, { value: lean, enumerable: false });
  return r;
}

export function leanOf(r: VerifyReport | undefined): LeanPairs[] | undefined {
  return r ? (r as unknown as Record<symbol, LeanPairs[] | undefined>)[LEAN] : undefined;
}

/** Every entry of a report, lean sweeps' secured pairs rebuilt (in the order: links, then each mesh's pairs). */
export function fullEntries(r: VerifyReport): VerifyEntry[] {
  const lean = leanOf(r);
  if (!lean) return r.entries;
  const out: VerifyEntry[] = [];
  const leanMeshes = new Set(lean.map((l) => l.mesh));
  const inLean = (e: VerifyEntry) => e.kind === "pair" && e.name.includes("~") && leanMeshes.has(e.name.slice(0, e.name.lastIndexOf(":")));
  for (const e of r.entries) if (!inLean(e)) out.push(e);
  for (const l of lean) for (const e of leanEntries(l)) out.push(e);
  return out;
}

/** Adds lean sweeps to a report of the rest (links, smaller meshes): their unreadable hosts and unsecured pairs as entries. */
export function mergeLean(r: VerifyReport, sweeps: readonly LeanSweepResult[]): VerifyReport {
  if (!sweeps.length) return r;
  const entries = [...r.entries];
  for (const s of sweeps) {
    for (const e of s.errors)
      entries.push({
        kind: "pair",
        name: `${s.lean.mesh}:${e.host}`,
        method: "host-mesh",
        status: "unknown",
        evidence: [e.error],
        observedAt: s.lean.observedAt,
      });
    for (const e of leanEntries(s.lean, (st) => st !== "secured")) entries.push(e);
  }
  const exceptions = [...(r.exceptions ?? []), ...sweeps.flatMap((s) => s.exceptions)];
  return withLean(
    {
      ...r,
      observedAt: [r.observedAt, ...sweeps.map((s) => s.lean.observedAt)].sort().at(-1)!,
      entries,
      hosts: [...(r.hosts ?? []), ...sweeps.flatMap((s) => s.hosts)],
      ...(exceptions.length ? { exceptions } : {}),
    },
    sweeps.map((s) => s.lean),
  );
}
