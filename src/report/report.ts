import type { ProfileSet } from "../model/load-profiles.js";
import type { Plan } from "../planner/plan-types.js";
import type { VerifyReport, VerifyStatus } from "../verify/verify.js";
import { evaluateCompliance, STANDARDS, type Finding } from "./compliance.js";

/** The report as data: what every renderer (JSON, Markdown, HTML) formats. Pure; the clock is an input. */
export interface ReportLink {
  name: string;
  sites: [string, string];
  medium: string;
  speed: string;
  method: string;
  cipher: string | null;
  keyManagement: string | null;
  keyAge: string;
  certifiedHardware: string;
  mtu: { overheadBytes: number; maxInnerMtu: number };
  status: VerifyStatus | "not verified";
  evidence: string[];
}

export interface Report {
  format: "linkcrypt-report";
  version: 1;
  generatedAt: string;
  inventory: string;
  policy: string;
  standards: typeof STANDARDS;
  summary: { links: number; secured: number; findings: Record<string, number>; meshes: { name: string; hosts: number; pairs: number; pairsSecured: number | null }[] };
  sites: string[];
  links: ReportLink[];
  findings: Finding[];
}

/** The last apply outcome per target, from the journal: failures become part of the link's evidence. */
export type LastApply = Map<string, { state: string; detail: string; at: string }>;

export function buildReport(plan: Plan, profiles: ProfileSet, generatedAt: string, verify?: VerifyReport, lastApply?: LastApply): Report {
  const v = new Map((verify?.entries ?? []).filter((e) => e.kind === "link").map((e) => [e.name, e]));
  const links: ReportLink[] = plan.links.map((l) => {
    const e = v.get(l.name);
    const last = lastApply?.get(l.name);
    const applyNote = last?.state === "failed" ? [`last apply failed (${last.at}): ${last.detail}`] : [];
    return {
      name: l.name, sites: l.sites, medium: l.medium, speed: l.speed, method: l.method, cipher: l.cipher, keyManagement: l.keyManagement,
      keyAge: e?.keyAgeSeconds !== undefined ? `${Math.floor(e.keyAgeSeconds / 3600)} h` : "-",
      certifiedHardware: l.l1?.certifications.join(", ") || "-",
      mtu: { overheadBytes: l.mtu.overheadBytes, maxInnerMtu: l.mtu.maxInnerMtu },
      status: e?.status ?? "not verified",
      evidence: [...applyNote, ...(e?.evidence ?? [])],
    };
  });
  const findings = evaluateCompliance(plan, profiles, verify);
  const count = (s: string) => findings.filter((f) => f.severity === s).length;
  return {
    format: "linkcrypt-report", version: 1, generatedAt, inventory: plan.inventory, policy: plan.policy, standards: STANDARDS,
    summary: {
      links: links.length,
      secured: links.filter((l) => l.status === "secured").length,
      findings: { critical: count("critical"), high: count("high"), medium: count("medium"), low: count("low") },
      meshes: plan.meshes.map((m) => {
        const pairs = verify?.entries.filter((e) => e.kind === "pair" && e.name.startsWith(`${m.name}:`));
        return { name: m.name, hosts: m.hosts, pairs: m.pairs, pairsSecured: pairs?.length ? pairs.filter((p) => p.status === "secured").length : null };
      }),
    },
    sites: [...new Set(plan.links.flatMap((l) => l.sites).concat(plan.meshes.flatMap((m) => m.members.map((x) => x.site))))].sort(),
    links,
    findings,
  };
}

export function reportMarkdown(r: Report): string {
  const cell = (s: string) => s.replace(/\|/g, "\\|");
  const lines = [
    `# Link encryption report: ${r.inventory}`,
    "",
    `Generated ${r.generatedAt}; policy ${r.policy}. ${r.summary.secured}/${r.summary.links} links verified secured; findings: ${Object.entries(r.summary.findings).map(([k, v]) => `${v} ${k}`).join(", ")}.`,
    "",
    "## Links",
    "",
    "| link | sites | medium | method | cipher | key management | key age | certified hardware | overhead | max inner MTU | status |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...r.links.map((l) => `| ${cell(l.name)} | ${l.sites.join(" - ")} | ${l.medium} | ${l.method} | ${l.cipher ?? "-"} | ${cell(l.keyManagement ?? "-")} | ${l.keyAge} | ${cell(l.certifiedHardware)} | ${l.mtu.overheadBytes} | ${l.mtu.maxInnerMtu} | ${l.status} |`),
    "",
    ...r.links.filter((l) => l.status !== "secured" && l.evidence.length).map((l) => `- **${cell(l.name)}** (${l.status}): ${cell(l.evidence.join("; "))}`),
    "",
    "## Host meshes",
    "",
    ...r.summary.meshes.map((m) => `- ${m.name}: ${m.hosts} hosts, ${m.pairs} pairs${m.pairsSecured === null ? "" : `, ${m.pairsSecured} verified secured`}`),
    "",
    "## Findings",
    "",
    r.findings.length ? "| severity | standard | subject | finding |\n|---|---|---|---|" : "No findings.",
    ...r.findings.map((f) => `| ${f.severity} | ${cell(f.standard)} | ${cell(f.subject)} | ${cell(f.message)} |`),
    "",
    "## Standards",
    "",
    ...r.standards.map((s) => `- **${s.standard}**: ${s.requirement} (policy profile \`${s.policy}\`)`),
    "",
  ];
  return lines.join("\n");
}

const COLORS: Record<string, string> = { l1: "#6a3d9a", macsec: "#1f78b4", "host-mesh": "#ff7f00", none: "#999999", refused: "#e31a1c" };
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** Sites on a circle, links as lines coloured by method; dashed where not verified secured. */
export function topologySvg(r: Report): string {
  const W = 640, H = 420, cx = W / 2, cy = H / 2 + 10, R = Math.min(W, H) / 2 - 70;
  const pos = new Map(r.sites.map((s, i) => {
    const a = (2 * Math.PI * i) / Math.max(1, r.sites.length) - Math.PI / 2;
    return [s, [cx + R * Math.cos(a), cy + R * Math.sin(a)] as const];
  }));
  const pairCount = new Map<string, number>();
  const lines = r.links.map((l) => {
    const [a, b] = [pos.get(l.sites[0])!, pos.get(l.sites[1])!];
    const key = [...l.sites].sort().join("~");
    const k = pairCount.get(key) ?? 0;
    pairCount.set(key, k + 1);
    const off = (k - 0) * 10;
    const dx = b[1] - a[1], dy = a[0] - b[0], n = Math.hypot(dx, dy) || 1;
    const [ox, oy] = [(dx / n) * off, (dy / n) * off];
    const secured = l.status === "secured";
    return `<g><line x1="${(a[0] + ox).toFixed(1)}" y1="${(a[1] + oy).toFixed(1)}" x2="${(b[0] + ox).toFixed(1)}" y2="${(b[1] + oy).toFixed(1)}" stroke="${COLORS[l.method] ?? "#000"}" stroke-width="5" ${secured ? "" : 'stroke-dasharray="10 6"'}><title>${esc(`${l.name}: ${l.method} ${l.cipher ?? ""} (${l.status})`)}</title></line>` +
      `<text x="${((a[0] + b[0]) / 2 + ox).toFixed(1)}" y="${((a[1] + b[1]) / 2 + oy - 6).toFixed(1)}" font-size="11" text-anchor="middle" fill="#333">${esc(l.name)}</text></g>`;
  });
  const nodes = r.sites.map((s) => {
    const [x, y] = pos.get(s)!;
    return `<g><circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="26" fill="#fff" stroke="#222" stroke-width="2"/><text x="${x.toFixed(1)}" y="${(y + 4).toFixed(1)}" font-size="12" font-weight="bold" text-anchor="middle">${esc(s)}</text></g>`;
  });
  const legend = Object.entries(COLORS).map(([m, c], i) => `<g transform="translate(${12 + i * 110},14)"><rect width="22" height="6" y="4" fill="${c}"/><text x="28" y="12" font-size="12">${m}</text></g>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="topology">${legend.join("")}<text x="12" y="44" font-size="11" fill="#555">dashed: not verified secured</text>${lines.join("")}${nodes.join("")}</svg>`;
}

export function reportHtml(r: Report): string {
  const sev: Record<string, string> = { critical: "#b30000", high: "#e34a33", medium: "#fc8d59", low: "#fdbb84" };
  const status: Record<string, string> = { secured: "#1a9850", degraded: "#fc8d59", unsecured: "#d73027", unknown: "#777", "not verified": "#777" };
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(`linkcrypt report: ${r.inventory}`)}</title>
<style>body{font-family:DejaVu Sans,Arial,sans-serif;margin:24px;color:#222}h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;font-size:12px;margin-top:8px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f0f0f0}
.badge{color:#fff;padding:1px 6px;border-radius:3px;font-size:11px}.summary{font-size:14px}</style></head><body>
<h1>Link encryption report: ${esc(r.inventory)}</h1>
<p class="summary">Generated ${esc(r.generatedAt)} under policy <b>${esc(r.policy)}</b>. <b>${r.summary.secured}/${r.summary.links}</b> links verified secured.
Findings: ${Object.entries(r.summary.findings).map(([k, v]) => `<span class="badge" style="background:${sev[k]}">${v} ${k}</span>`).join(" ")}</p>
<h2>Topology</h2>${topologySvg(r)}
<h2>Links</h2><table><tr><th>link</th><th>sites</th><th>medium</th><th>method</th><th>cipher</th><th>key management</th><th>key age</th><th>certified hardware</th><th>overhead</th><th>max inner MTU</th><th>status</th></tr>
${r.links.map((l) => `<tr><td>${esc(l.name)}</td><td>${esc(l.sites.join(" - "))}</td><td>${esc(l.medium)}</td><td>${esc(l.method)}</td><td>${esc(l.cipher ?? "-")}</td><td>${esc(l.keyManagement ?? "-")}</td><td>${esc(l.keyAge)}</td><td>${esc(l.certifiedHardware)}</td><td>${l.mtu.overheadBytes}</td><td>${l.mtu.maxInnerMtu}</td><td><span class="badge" style="background:${status[l.status]}" title="${esc(l.evidence.join("; "))}">${l.status}</span>${l.status !== "secured" && l.evidence.length ? `<div style="font-size:11px;color:#555">${esc(l.evidence.join("; "))}</div>` : ""}</td></tr>`).join("\n")}</table>
<h2>Host meshes</h2><ul>${r.summary.meshes.map((m) => `<li>${esc(m.name)}: ${m.hosts} hosts, ${m.pairs} pairs${m.pairsSecured === null ? "" : `, ${m.pairsSecured} verified secured`}</li>`).join("")}</ul>
<h2>Findings</h2>${r.findings.length ? `<table><tr><th>severity</th><th>standard</th><th>subject</th><th>finding</th></tr>${r.findings.map((f) => `<tr><td><span class="badge" style="background:${sev[f.severity]}">${f.severity}</span></td><td>${esc(f.standard)}</td><td>${esc(f.subject)}</td><td>${esc(f.message)}</td></tr>`).join("\n")}</table>` : "<p>No findings.</p>"}
<h2>Standards</h2><ul>${r.standards.map((s) => `<li><b>${esc(s.standard)}</b>: ${esc(s.requirement)}</li>`).join("")}</ul>
</body></html>
`;
}
