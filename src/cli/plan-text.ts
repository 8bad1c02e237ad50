import type { MeshPlan, Plan } from "../planner/plan-types.js";
import { formatDiagnostics, formatTable, listSome } from "./output.js";

/** The human form of a plan: a links table with reasons, then per mesh its classes. Pure. */
export function planText(plan: Plan): string {
  const s = plan.summary;
  const parts: string[] = [];
  parts.push(
    `Plan for ${plan.inventory} (policy ${plan.policy}): ${plan.links.length} link(s), ${s.meshes} mesh(es) with ${s.hosts} host(s) and ${s.pairs} pair(s)`,
  );
  if (plan.links.length > 0) {
    parts.push(
      "\nLINKS\n" +
        formatTable(
          ["link", "medium", "speed", "method", "cipher", "overhead", "max inner", "set MTU"],
          plan.links.map((l) => [
            l.name,
            l.medium,
            l.speed,
            l.method,
            l.cipher ?? "-",
            String(l.mtu.overheadBytes),
            String(l.mtu.maxInnerMtu),
            String(l.mtu.recommendedMtu),
          ]),
        ),
    );
    for (const l of plan.links) parts.push(`\n${l.name} (${l.a} - ${l.b}):\n${l.reasons.map((r) => `  - ${r}`).join("\n")}`);
  }
  for (const m of plan.meshes) parts.push(meshText(m));
  const d = formatDiagnostics(plan.diagnostics);
  parts.push(d ? `\nDIAGNOSTICS\n${d}` : "\nNo problems found.\n");
  return parts.join("\n");
}

/** The ESP sequence-number decision of a pair class: ESN, a packet-count rekey, or plain 32-bit numbers. */
export function sequenceText(c: { esn: boolean; rekeyPackets: number | null }): string {
  if (c.esn) return "ESN";
  if (c.rekeyPackets !== null) return `rekey@${c.rekeyPackets}pkt`;
  return "32-bit";
}

function meshText(m: MeshPlan): string {
  const lines: string[] = [];
  const auth = m.auth === "psk" ? "per-pair PSK" : "certificates";
  lines.push(
    `\nMESH ${m.name}: ${m.mode} mode, ${auth}, ${m.hosts} hosts, ${m.pairs} pairs in ${m.pairClasses.length} class(es); ` +
      "the lower-named host of each pair initiates",
  );
  lines.push(
    `IKE ${m.ike.proposals.join(", ")}; PFS ${m.ike.pfs ? "on" : "off"}; IKE/CHILD lifetime ${m.ike.lifetimeSeconds}/${m.ike.childLifetimeSeconds} s`,
  );
  lines.push(
    formatTable(
      ["class", "hosts", "path", "pairs", "method", "cipher", "seq", "side A", "side B", "inner MTU", "MSS"],
      m.pairClasses.map((c) => [
        c.id,
        `${c.hostClasses[0]}~${c.hostClasses[1]}`,
        c.pathClass,
        String(c.pairs),
        c.method,
        c.cipher ?? "-",
        sequenceText(c),
        c.sides?.[0].decision ?? "-",
        c.sides?.[1].decision ?? "-",
        c.mtu ? String(c.mtu.maxInnerMtu) : "-",
        c.mtu ? String(c.mtu.mssClamp) : "-",
      ]),
    ),
  );
  lines.push("host classes:");
  for (const h of m.hostClasses)
    lines.push(
      `  ${h.id}  ${h.nic} (${h.nicDriver}) ${h.nicSpeed} mtu ${h.nicMtu}; ${h.cpu} [${h.cpuTier}]; ${h.families.join("+")}: ${listSome(h.hosts)}`,
    );
  lines.push("path classes:");
  for (const p of m.pathClasses) {
    const links = p.linksMtu === null ? "site LAN only" : `links carry ${p.linksMtu} bytes, slowest ${p.speed}`;
    lines.push(
      `  ${p.id}  ${links}${p.natT ? ", NAT-T" : ""}${p.hardwareEncrypted ? ", hardware-encrypted" : ""}: ${listSome(p.sitePairs)}`,
    );
  }
  lines.push("reasons:");
  for (const c of m.pairClasses) {
    lines.push(`  ${c.id}: ${c.reasons.join("; ")}`);
    for (const [i, s] of (c.sides ?? []).entries())
      lines.push(`    side ${i === 0 ? "A" : "B"} (${s.hostClass}): ${s.decision}, hw_offload=${s.hwOffload}: ${s.reason}`);
  }
  return lines.join("\n");
}
