import { formatSpeed } from "../model/speed.js";
import { UsageError } from "../errors.js";
import { explainPair } from "../planner/plan-mesh.js";
import { sitePathFinder } from "../planner/site-paths.js";
import { loadAll, planFromLoaded } from "./load.js";
import { EXIT, formatDiagnostics, invalidInventory, json, listSome, type Out } from "./output.js";
import type { LinkPlan, MtuPlan } from "../planner/plan-types.js";

/** `linkcrypt explain FILE <link | hostA hostB>`: every option considered for one link or one host pair. */
export function runExplain(file: string, targets: string[], opts: { json?: boolean; profiles: string[] }, out: Out): number {
  const l = loadAll(file, opts.profiles);
  const plan = planFromLoaded(l);
  if (!plan || !l.model) {
    out.write(invalidInventory(file, l.diagnostics, opts.json, "not valid; nothing to explain"));
    return EXIT.problems;
  }
  const model = l.model;
  if (targets.length === 1) {
    const link = plan.links.find((x) => x.name === targets[0]);
    if (!link)
      throw new UsageError(
        `"${targets[0]}" is not a link in ${file} (links: ${listSome(
          plan.links.map((x) => x.name),
          8,
        )}); for a host pair give two host names`,
      );
    const diags = plan.diagnostics.filter((d) => d.path === link.path || d.path.startsWith(`${link.path}.`));
    if (opts.json) out.write(json({ link, diagnostics: diags }));
    else out.write(linkText(link) + formatDiagnostics(diags));
    return diags.some((d) => d.severity === "error") ? EXIT.problems : EXIT.ok;
  }
  if (targets.length !== 2) throw new UsageError("explain takes a link name, or two host names");
  if (targets[0] === targets[1])
    throw new UsageError(
      `"${targets[0]}" is paired with itself: a host has no connection to itself, so there is no pair to explain; give two different hosts`,
    );
  const [a, b] = targets.map((t) => {
    const h = model.hosts.get(t!);
    if (!h) throw new UsageError(`"${t}" is not a host in ${file}`);
    return h;
  }) as [NonNullable<ReturnType<typeof model.hosts.get>>, NonNullable<ReturnType<typeof model.hosts.get>>];
  const mesh = model.meshes.find((m) => m.hosts.includes(a) && m.hosts.includes(b));
  if (!mesh) throw new UsageError(`${a.name} and ${b.name} are not in a common mesh`);
  const pathBetween = sitePathFinder(model.links, new Map(plan.links.map((x) => [x.name, x])));
  const e = explainPair(a, b, mesh, model, pathBetween);
  if (opts.json) {
    out.write(json({ mesh: mesh.name, initiator: e.initiator, responder: e.responder, path: e.path, decision: e.decision }));
    return e.decision.method === "refused" ? EXIT.problems : EXIT.ok;
  }
  const d = e.decision;
  const lines = [
    `${e.initiator} ~ ${e.responder} in mesh ${mesh.name} (${mesh.mode} mode); ${e.initiator} initiates (lower name)`,
    `path: ${e.path.links.length === 0 ? `same site LAN (${a.site})` : e.path.links.map((h) => h.join(" | ")).join(" -> ")}` +
      `${e.path.linksMtu !== null ? `; links carry ${e.path.linksMtu} bytes` : ""}${e.path.speedBps !== null ? `, slowest ${formatSpeed(e.path.speedBps)}` : ""}` +
      `${d.natT ? "; NAT-T" : ""}${e.path.hardwareEncrypted ? "; every link hardware-encrypted" : ""}`,
    `decision: ${d.method}${d.cipher ? ` with ${d.cipher}` : ""}`,
    ...d.reasons.map((r) => `  - ${r}`),
    "ciphers considered (policy order):",
  ];
  for (const c of d.considered) {
    lines.push(
      `  ${c.cipher}: ${c.score === null ? "not runnable" : `offload score ${c.score}`}${c.cipher === d.cipher ? "  <- chosen" : ""}`,
    );
    lines.push(`    ${e.initiator}: ${c.sides[0].decision}: ${c.sides[0].reason}`);
    lines.push(`    ${e.responder}: ${c.sides[1].decision}: ${c.sides[1].reason}`);
  }
  if (d.mtu) lines.push(...mtuLines(d.mtu));
  if (d.capacity)
    lines.push(
      `capacity: ~${formatSpeed(d.capacity.estimateBps)} per SA against ${formatSpeed(d.capacity.nicSpeedBps)}${d.capacity.ok ? " (keeps up)" : " (cannot keep up)"}`,
    );
  if (d.sequence)
    lines.push(
      `sequence numbers: ${d.sequence.detail}`,
      `  plan: ${d.sequence.esn ? "ESN (-esn in esp_proposals)" : d.sequence.rekeyPackets !== null ? `rekey_packets = ${d.sequence.rekeyPackets}` : "32-bit sequence numbers, rekeyed by time"}`,
    );
  lines.push("host facts (raw; host classes use only what decisions depend on):");
  for (const h of [e.initiator, e.responder].map((n) => model.hosts.get(n)!))
    lines.push(
      `  ${h.name}: CPU ${h.profile.cpu.model}, ${h.cpuFlags.length} flag(s)${h.kernelAlgorithms ? `, /proc/crypto ${h.kernelAlgorithms.length} algorithm(s)` : ", /proc/crypto not observed"}` +
        `, strongSwan ${h.strongswanVersion ?? "not observed"}, NIC ${h.nic.name} ${h.nic.profile.model} (offload ${h.nic.profile.espOffload.modes.join("+") || "none"})`,
    );
  for (const p of d.problems) lines.push(`${p.severity}: ${p.message}`);
  out.write(`${lines.join("\n")}\n`);
  return d.method === "refused" ? EXIT.problems : EXIT.ok;
}

function mtuLines(m: MtuPlan): string[] {
  return [
    `MTU budget: path ${m.pathMtu}, overhead ${m.overheadBytes}, largest inner packet ${m.maxInnerMtu}, set MTU ${m.recommendedMtu}, MSS clamp ${m.mssClamp}`,
    ...m.layers.map((c) => `  ${c.layer}: ${c.items.map((i) => `${i.what} ${i.bytes}`).join(", ")}`),
  ];
}

function linkText(l: LinkPlan): string {
  const lines = [
    `${l.name}: ${l.a} (${l.sites[0]}) - ${l.b} (${l.sites[1]}), ${l.medium}, ${l.speed}, policy ${l.policy}`,
    `decision: ${l.method}${l.cipher ? ` with ${l.cipher}` : ""}${l.keyManagement ? `, keys by ${l.keyManagement}` : ""}`,
    ...l.reasons.map((r) => `  - ${r}`),
    "methods considered:",
    ...l.candidates.map((c) => `  ${c.method}: ${c.viable ? "usable" : "not usable"}: ${c.detail}`),
    ...mtuLines(l.mtu),
    `capacity: ${l.capacity.detail}`,
  ];
  if (l.macsec) lines.push(`packet numbers: ${l.macsec.pnExhaustion}`);
  return `${lines.join("\n")}\n`;
}
