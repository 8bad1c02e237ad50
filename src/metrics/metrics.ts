import type { Plan } from "../planner/plan-types.js";
import type { VerifyReport } from "../verify/verify.js";

/**
 * Metrics from a plan and (optionally) verify results: per-link status, mesh pairs by status, key ages and xfrm
 * error counters. Pure; Prometheus text exposition format (0.0.4) or Graphite plaintext.
 */
export interface Sample {
  name: string;
  help: string;
  type: "gauge" | "counter";
  labels: Record<string, string>;
  value: number;
}

const PAIR_STATES: string[] = ["secured", "degraded", "unsecured", "unknown"];

export function collectSamples(
  plan: Plan,
  verify?: VerifyReport,
  keyAges: { key: string; kind: string; seconds: number }[] = [],
  evidence?: { collectedAt: string; now: Date },
): Sample[] {
  const out: Sample[] = [];
  if (evidence) {
    const at = Date.parse(evidence.collectedAt) / 1000;
    out.push({
      name: "linkcrypt_verify_collected_timestamp_seconds",
      help: "when the verify evidence behind these metrics was collected (Unix time)",
      type: "gauge",
      labels: { inventory: plan.inventory },
      value: Math.floor(at),
    });
    out.push({
      name: "linkcrypt_verify_age_seconds",
      help: "age of the verify evidence behind these metrics",
      type: "gauge",
      labels: { inventory: plan.inventory },
      value: Math.max(0, Math.round(evidence.now.getTime() / 1000 - at)),
    });
  }
  const v = new Map((verify?.entries ?? []).map((e) => [e.name, e]));
  const encryptors = new Map<string, number>();
  for (const l of plan.links) {
    const st = v.get(l.name)?.status ?? "not-verified";
    for (const s of ["secured", "degraded", "unsecured", "unknown", "not-verified"])
      out.push({
        name: "linkcrypt_link_status",
        help: "1 for the link's current status (from verify), 0 otherwise",
        type: "gauge",
        labels: { link: l.name, method: l.method, status: s },
        value: st === s ? 1 : 0,
      });
    out.push({
      name: "linkcrypt_link_overhead_bytes",
      help: "encryption overhead per packet at the largest inner MTU",
      type: "gauge",
      labels: { link: l.name, method: l.method },
      value: l.mtu.overheadBytes,
    });
    const age = v.get(l.name)?.keyAgeSeconds;
    if (age !== undefined)
      out.push({
        name: "linkcrypt_key_age_seconds",
        help: KEY_AGE_HELP,
        type: "gauge",
        labels: { key: l.name, kind: l.method },
        value: age,
      });
    // Each L1 encryptor's own key age, as it reported it (a link's figure above is the older of its two ends).
    if (l.method === "l1")
      for (const end of v.get(l.name)?.ends ?? [])
        if (end.keyAgeSeconds !== undefined && !encryptors.has(end.device)) encryptors.set(end.device, end.keyAgeSeconds);
  }
  for (const [device, seconds] of [...encryptors].sort(([a], [b]) => (a < b ? -1 : 1)))
    out.push({
      name: "linkcrypt_key_age_seconds",
      help: KEY_AGE_HELP,
      type: "gauge",
      labels: { key: device, kind: "encryptor" },
      value: seconds,
    });
  for (const m of plan.meshes) {
    out.push({
      name: "linkcrypt_mesh_planned_pairs",
      help: "pairs of the mesh's members: those the plan protects with ESP, exempts or refuses",
      type: "gauge",
      labels: { mesh: m.name },
      value: m.pairs,
    });
    // A host's unreadable entry (`mesh:host`, no `~`) is not a pair: only pairs are counted.
    const pairs = (verify?.entries ?? []).filter((e) => e.kind === "pair" && e.name.startsWith(`${m.name}:`) && e.name.includes("~"));
    // Each pair in exactly one status, so sum by (mesh) (linkcrypt_mesh_pairs) is the mesh's pairs, never more:
    // verify's status for an ESP pair it checked, not-verified for an ESP pair it has no entry for, and exempt or
    // refused for the pairs the plan does not protect with ESP (verify never checks those).
    const byMethod = (x: string) => (m.pairClasses ?? []).filter((c) => c.method === x).reduce((a, c) => a + c.pairs, 0);
    const esp = m.pairClasses?.length ? byMethod("esp") : m.pairs;
    const counted = Object.fromEntries(PAIR_STATES.map((s) => [s, 0])) as Record<string, number>;
    for (const p of pairs) counted[PAIR_STATES.includes(p.status) ? p.status : "unknown"]!++;
    counted["not-verified"] = Math.max(0, esp - pairs.length);
    counted.exempt = m.pairClasses?.length ? byMethod("exempt") : 0;
    counted.refused = Math.max(0, m.pairs - esp - counted.exempt);
    for (const s of [...PAIR_STATES, "not-verified", "exempt", "refused"])
      out.push({
        name: "linkcrypt_mesh_pairs",
        help:
          "the mesh's pairs by status, each pair in exactly one (not-verified: an ESP pair without verify evidence; " +
          "exempt, refused: pairs the plan does not protect with ESP), so the sum over status is the mesh's pairs",
        type: "gauge",
        labels: { mesh: m.name, status: s },
        value: counted[s]!,
      });
    // One-hot per verified pair (a host's unreadable entry `mesh:host` has no `~` and is not a pair).
    for (const p of pairs)
      for (const s of PAIR_STATES)
        out.push({
          name: "linkcrypt_pair_status",
          help: "1 for the mesh pair's current status (from verify), 0 otherwise",
          type: "gauge",
          labels: { mesh: m.name, pair: p.name.slice(m.name.length + 1), status: s },
          value: p.status === s ? 1 : 0,
        });
  }
  for (const h of verify?.hosts ?? []) {
    const labels = { mesh: h.mesh, host: h.host };
    out.push({ name: "linkcrypt_mesh_child_sas", help: "INSTALLED mesh CHILD_SAs on the host", type: "gauge", labels, value: h.childSas });
    out.push({ name: "linkcrypt_mesh_ike_sas", help: "ESTABLISHED mesh IKE_SAs on the host", type: "gauge", labels, value: h.ikeSas });
    out.push({ name: "linkcrypt_mesh_half_open_ike_sas", help: "half-open IKE_SAs on the host", type: "gauge", labels, value: h.halfOpen });
    for (const d of h.xfrmDeltas)
      out.push({
        name: "linkcrypt_xfrm_errors",
        help: "growth of a /proc/net/xfrm_stat error counter since the previous verify",
        type: "gauge",
        labels: { ...labels, counter: d.counter },
        value: d.delta,
      });
    // The kernel's own counters, as read from /proc/net/xfrm_stat: monotonic since boot, so rate() works on them.
    for (const [counter, value] of Object.entries(h.xfrmStat ?? {}))
      out.push({
        name: "linkcrypt_xfrm_stat_total",
        help: "a /proc/net/xfrm_stat counter of the host's kernel",
        type: "counter",
        labels: { ...labels, counter },
        value,
      });
  }
  for (const x of verify?.exceptions ?? [])
    out.push({
      name: "linkcrypt_mesh_cleartext_exception",
      help: "1 while `mesh down --clear` lets these members talk unencrypted (until mesh up)",
      type: "gauge",
      labels: { mesh: x.mesh, hosts: x.hosts.join(","), who: x.who, since: x.when, reason: x.reason },
      value: 1,
    });
  for (const k of keyAges)
    out.push({
      name: "linkcrypt_key_age_seconds",
      help: KEY_AGE_HELP,
      type: "gauge",
      labels: { key: k.key, kind: k.kind },
      value: k.seconds,
    });
  return out;
}

const KEY_AGE_HELP =
  "age of the key in use, seconds, by kind: macsec and l1 (a link's, as its devices report it), encryptor (one L1 encryptor's), " +
  "macsec-cak (the CAK's time in the state store), mesh-psk-master (a PSK mesh's master: state store, file mtime or last rotation in the journal)";

const escLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

export function prometheusText(samples: readonly Sample[]): string {
  const byName = new Map<string, Sample[]>();
  for (const s of samples) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  const lines: string[] = [];
  for (const [name, list] of [...byName.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    lines.push(`# HELP ${name} ${list[0]!.help}`, `# TYPE ${name} ${list[0]!.type}`);
    for (const s of list)
      lines.push(
        `${name}{${Object.entries(s.labels)
          .map(([k, v]) => `${k}="${escLabel(v)}"`)
          .join(",")}} ${s.value}`,
      );
  }
  return `${lines.join("\n")}\n`;
}

/** Graphite plaintext: `prefix.metric.label1.label2 value timestamp`, with dots and spaces in labels made safe. */
export function graphiteText(samples: readonly Sample[], prefix: string, unixSeconds: number): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, "_");
  return `${samples.map((s) => `${prefix.split(".").map(safe).join(".")}.${s.name.replace(/^linkcrypt_/, "")}.${Object.values(s.labels).map(safe).join(".")} ${s.value} ${unixSeconds}`).join("\n")}\n`;
}
