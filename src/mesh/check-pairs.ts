import { connName } from "../planner/conn-spec.js";
import type { ChildSaRow, HostSaTable } from "./sa-table.js";

/**
 * The pure pair check behind `mesh verify`. For every expected pair it compares both hosts' CHILD_SAs:
 * - symmetry: A's outbound SPI is B's inbound SPI and the reverse, both INSTALLED;
 * - half pair: an SA on one side whose partner is missing on the other (one host lost its inbound SA, the other keeps
 *   sending into it);
 * - duplicates: more CHILD_SAs than a rekey overlap explains (2);
 * - stuck negotiations: IKE_SAs still CONNECTING, CHILD_SAs not INSTALLED;
 * - liveness: no packets in either direction for longer than `idleAfterS` (DPD only proves IKE is alive);
 * - daemon against kernel: where kernel SPIs are given, every INSTALLED SPI must be in the kernel.
 */
export type PairStatus = "up" | "half" | "down" | "duplicate" | "stuck" | "idle" | "no-kernel-sa" | "cleartext-possible" | "unknown";
export type Severity = "ok" | "info" | "warning" | "critical";

export interface PairFinding {
  a: string;
  b: string;
  status: PairStatus;
  severity: Severity;
  detail: string;
  /** The SPIs of the symmetric CHILD_SA pair, if one exists (A's in/out). */
  spis?: { aIn: string; aOut: string };
}

export interface CheckOptions {
  idleAfterS: number;
  /** SPIs present in each host's kernel (`ip xfrm state`), when the daemon uses kernel xfrm. */
  kernelSpis?: ReadonlyMap<string, ReadonlySet<string>>;
  /**
   * Per host, per peer: what the kernel's outbound policy does with packets to the peer (`ip xfrm policy`). A pair
   * where either side has no ESP or drop policy can send in clear, whatever the SAs say.
   */
  protection?: ReadonlyMap<string, ReadonlyMap<string, "esp" | "block" | "none">>;
  /** A recorded `mesh down --clear` exception covering the pair, as text, if any. */
  exceptionFor?: (a: string, b: string) => string | undefined;
}

const SEVERITY: Record<PairStatus, Severity> = {
  up: "ok",
  idle: "info",
  duplicate: "warning",
  stuck: "warning",
  half: "critical",
  down: "critical",
  "no-kernel-sa": "critical",
  "cleartext-possible": "critical",
  unknown: "warning",
};
const REKEY_OVERLAP = 2;

/** Per host, per connection: the CHILD_SAs. A lone SA is stored bare: at 1M SAs, a million 1-element arrays cost seconds. */
type Slot = ChildSaRow | ChildSaRow[];
type Index = Map<string, Map<string, Slot>>;

function indexChildren(tables: readonly HostSaTable[]): Index {
  const children: Index = new Map();
  for (const t of tables) {
    const byConn = new Map<string, Slot>();
    for (const c of t.children) {
      const cur = byConn.get(c.conn);
      if (cur === undefined) byConn.set(c.conn, c);
      else if (Array.isArray(cur)) cur.push(c);
      else byConn.set(c.conn, [cur, c]);
    }
    children.set(t.host, byConn);
  }
  return children;
}

const rowsOf = (s: Slot | undefined): ChildSaRow[] => (s === undefined ? [] : Array.isArray(s) ? s : [s]);

export function checkPairs(pairs: readonly [string, string][], tables: readonly HostSaTable[], o: CheckOptions): PairFinding[] {
  const children = indexChildren(tables);
  // IKE_SA states are only needed for pairs off the fast path; index a host's on first use.
  const tableOf = new Map(tables.map((t) => [t.host, t]));
  const ikeCache = new Map<string, Map<string, string[]>>();
  const ikeOf = (h: string) => {
    let m = ikeCache.get(h);
    if (!m) {
      m = new Map();
      for (const i of tableOf.get(h)?.ike ?? []) {
        const l = m.get(i.conn);
        if (l) l.push(i.state);
        else m.set(i.conn, [i.state]);
      }
      ikeCache.set(h, m);
    }
    return m;
  };
  const out: PairFinding[] = [];
  const finding = (a: string, b: string, status: PairStatus, detail: string, spis?: PairFinding["spis"]): PairFinding => ({
    a,
    b,
    status,
    severity: SEVERITY[status],
    detail,
    ...(spis ? { spis } : {}),
  });
  const conn = new Map<string, string>();
  const connOf = (h: string) => {
    let c = conn.get(h);
    if (c === undefined) conn.set(h, (c = connName(h)));
    return c;
  };
  for (const [a, b] of pairs) {
    const ta = children.get(a);
    const tb = children.get(b);
    if (!ta || !tb) {
      out.push(finding(a, b, "unknown", `no SA table from ${!ta ? a : b} (unreachable?)`));
      continue;
    }
    if (o.protection) {
      const open = [
        [a, b],
        [b, a],
      ].filter(([x, y]) => o.protection!.get(x!) && o.protection!.get(x!)!.get(y!) !== "esp" && o.protection!.get(x!)!.get(y!) !== "block");
      if (open.length) {
        const why = o.exceptionFor?.(a, b);
        const f = finding(
          a,
          b,
          "cleartext-possible",
          `${open.map(([x, y]) => `${x} has no ESP or drop policy toward ${y}`).join("; ")}: packets go out in clear${why ? `, by exception: ${why}` : ""}`,
        );
        out.push(why ? { ...f, severity: "warning" } : f);
        continue;
      }
    }
    const ca = connOf(a);
    const cb = connOf(b);
    const slotA = ta.get(cb);
    const slotB = tb.get(ca);
    // Fast path, the common case at scale: one INSTALLED, mirrored CHILD_SA per side under established IKE_SAs.
    if (slotA !== undefined && slotB !== undefined && !Array.isArray(slotA) && !Array.isArray(slotB) && !o.kernelSpis) {
      const x = slotA;
      const y = slotB;
      if (
        x.state === "INSTALLED" &&
        y.state === "INSTALLED" &&
        x.spiOut === y.spiIn &&
        x.spiIn === y.spiOut &&
        x.ikeState === "ESTABLISHED" &&
        y.ikeState === "ESTABLISHED"
      ) {
        const spis = { aIn: x.spiIn, aOut: x.spiOut };
        const ageIn = x.useIn ?? x.installTime ?? Infinity;
        const ageOut = x.useOut ?? x.installTime ?? Infinity;
        const idleFor = Number.isFinite(Math.min(ageIn, ageOut)) ? `${Math.min(ageIn, ageOut)} s` : "the SA's lifetime";
        out.push(
          ageIn > o.idleAfterS && ageOut > o.idleAfterS
            ? finding(
                a,
                b,
                "idle",
                `no packets in either direction for ${idleFor}: IKE may be alive (DPD) while the CHILD_SA carries nothing`,
                spis,
              )
            : finding(a, b, "up", `SPIs ${x.spiIn}/${x.spiOut} symmetric and INSTALLED`, spis),
        );
        continue;
      }
    }
    const sa = rowsOf(slotA);
    const sb = rowsOf(slotB);
    const ia = sa.filter((c) => c.state === "INSTALLED");
    const ib = sb.filter((c) => c.state === "INSTALLED");
    // Where the kernels' SPIs are known, prefer a symmetric pair the kernels really hold (an SA deleted behind
    // charon's back stays listed until charon notices, beside the CHILD_SA that replaced it).
    const inKernel = (x: ChildSaRow) =>
      !o.kernelSpis ||
      (
        [
          [a, x.spiIn],
          [a, x.spiOut],
        ] as const
      ).every(([h, spi]) => !o.kernelSpis!.get(h) || o.kernelSpis!.get(h)!.has(spi));
    const syms = ia.filter((x) => ib.some((y) => y.spiIn === x.spiOut && y.spiOut === x.spiIn));
    const sym = syms.find(inKernel) ?? syms[0];
    // A half pair: an INSTALLED SA whose outbound SPI the peer has no inbound SA for.
    const orphanA = ia.filter((x) => !ib.some((y) => y.spiIn === x.spiOut));
    const orphanB = ib.filter((y) => !ia.some((x) => x.spiIn === y.spiOut));
    const stuckIke = [...(ikeOf(a).get(cb) ?? []), ...(ikeOf(b).get(ca) ?? [])].filter((s) => s !== "ESTABLISHED");
    const notInstalled = [...sa, ...sb].filter((c) => c.state !== "INSTALLED" && c.state !== "REKEYED" && c.state !== "DELETING");
    if (orphanA.length > 0 || orphanB.length > 0) {
      const parts = [
        ...orphanA.map((x) => `${a} sends on SPI ${x.spiOut} that ${b} has no inbound SA for`),
        ...orphanB.map((y) => `${b} sends on SPI ${y.spiOut} that ${a} has no inbound SA for`),
      ];
      out.push(finding(a, b, "half", parts.join("; ")));
      continue;
    }
    if (!sym) {
      out.push(
        finding(
          a,
          b,
          stuckIke.length || notInstalled.length ? "stuck" : "down",
          stuckIke.length || notInstalled.length
            ? `negotiation not finished (IKE ${stuckIke.join(",") || "-"}, CHILD ${notInstalled.map((c) => c.state).join(",") || "-"})`
            : o.protection
              ? `down (fail-closed): no CHILD_SA on either side; both kernels hold an ESP (trap) or drop policy for the pair`
              : `no CHILD_SA on either side`,
        ),
      );
      continue;
    }
    const spis = { aIn: sym.spiIn, aOut: sym.spiOut };
    if (ia.length > REKEY_OVERLAP || ib.length > REKEY_OVERLAP) {
      out.push(
        finding(
          a,
          b,
          "duplicate",
          `${ia.length} CHILD_SAs on ${a} and ${ib.length} on ${b}; a rekey overlap explains ${REKEY_OVERLAP} (crossing initiations?)`,
          spis,
        ),
      );
      continue;
    }
    if (o.kernelSpis) {
      const missing = [
        [a, sym.spiIn],
        [a, sym.spiOut],
        [b, sym.spiOut],
        [b, sym.spiIn],
      ].filter(([h, spi]) => o.kernelSpis!.get(h!) && !o.kernelSpis!.get(h!)!.has(spi!));
      if (missing.length) {
        // An inbound SA missing from a kernel while the peer keeps its outbound one is a half pair, the real way:
        // the peer's packets arrive for an SPI the kernel drops (XfrmInNoStates), whatever charon believes.
        const inboundGone = missing.filter(([h, spi]) => (h === a ? sym.spiIn : sym.spiOut) === spi);
        out.push(
          inboundGone.length
            ? finding(
                a,
                b,
                "half",
                `${inboundGone.map(([h, s]) => `${h}'s kernel has no inbound SA ${s} (charon still lists it): ${h === a ? b : a} sends into it`).join("; ")}`,
                spis,
              )
            : finding(
                a,
                b,
                "no-kernel-sa",
                `charon has SPIs the kernel does not: ${missing.map(([h, s]) => `${s} on ${h}`).join(", ")}`,
                spis,
              ),
        );
        continue;
      }
    }
    // Seconds since the last packet each way; a fresh SA that has carried nothing yet counts from its install.
    const ages = [sym.useIn, sym.useOut].map((u) => u ?? sym.installTime ?? Infinity);
    if (ages.every((u) => u > o.idleAfterS)) {
      out.push(
        finding(
          a,
          b,
          "idle",
          `no packets in either direction for ${Number.isFinite(Math.min(...ages)) ? `${Math.min(...ages)} s` : "the SA's lifetime"}: IKE may be alive (DPD) while the CHILD_SA carries nothing`,
          spis,
        ),
      );
      continue;
    }
    out.push(finding(a, b, "up", `SPIs ${sym.spiIn}/${sym.spiOut} symmetric and INSTALLED`, spis));
  }
  return out;
}

/** Likely causes for /proc/net/xfrm_stat counters that grew between two readings. */
const XFRM_CAUSES: Record<string, string> = {
  XfrmInNoStates: "a peer is sending on an SA we don't have (half pair, or a stale SA after a restart)",
  XfrmInStateProtoError: "ESP failed to verify: key or anti-replay mismatch between the peers",
  XfrmInStateSeqError: "anti-replay: packets outside the replay window (reordering, or a replay)",
  XfrmInStateExpired: "packets arrived on an SA past its lifetime (rekey not completing)",
  XfrmInTmplMismatch: "a packet matched a policy but not its SA template (selector or mode mismatch)",
  XfrmInNoPols: "a packet arrived with no matching inbound policy",
  XfrmOutNoStates: "a policy matched but no outbound SA exists (negotiation missing or failed)",
  XfrmOutStateSeqError: "an outbound sequence number was exhausted: the SA must be rekeyed",
  XfrmOutStateExpired: "outbound SA expired before its rekey finished",
  XfrmOutPolBlock: "traffic blocked by a policy: a plaintext leak was prevented",
  XfrmAcquireError: "the kernel could not start a negotiation (acquire failed)",
};

export function xfrmStatDeltas(
  before: Record<string, number>,
  after: Record<string, number>,
): { counter: string; delta: number; cause: string }[] {
  return Object.keys(after)
    .filter((k) => (after[k] ?? 0) > (before[k] ?? 0))
    .sort()
    .map((k) => ({ counter: k, delta: after[k]! - (before[k] ?? 0), cause: XFRM_CAUSES[k] ?? "see the kernel's xfrm_proc documentation" }));
}
