import type { ControlStatus } from "./controls.js";
import type { Report, ReportPair, ReportStatus } from "./report.js";
import { topologyMermaid } from "./topology.js";

/**
 * Markdown and HTML renderings of a report. Every status is a word and a symbol as well as a colour, so it keeps its
 * meaning in black and white; positive evidence is printed in the tables, never only in a tooltip.
 */
const PAIRS_SHOWN = 50;

const SYMBOL: Record<string, string> = {
  pass: "✔",
  secured: "✔",
  fail: "✘",
  unsecured: "✘",
  degraded: "◐",
  "not assessed": "?",
  unknown: "?",
  "not verified": "?",
};
const badgeText = (s: string) => `${SYMBOL[s] ?? "•"} ${s.toUpperCase()}`;

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

function provenanceRows(r: Report): [string, string][] {
  const p = r.provenance;
  const v = p.verify;
  const collectedFrom = v?.startedAt ? `${v.startedAt} to ` : "";
  const age = v ? (v.ageHours < 1 ? `${Math.round(v.ageHours * 60)} min` : `${v.ageHours} h`) : "";
  const verifyEvidence = v
    ? `${v.file}, sha256 ${v.sha256}; inventory ${v.inventory ?? "(not named in the file)"}; ` +
      `collected ${collectedFrom}${v.collectedAt} (${age} before this report; freshness limit ${v.maxAgeHours} h)${v.stale ? ", STALE" : ""}`
    : "none given: statuses are not observed";
  return [
    ["tool", `linkcrypt ${p.tool.version}, commit ${p.tool.commit ?? "unknown (not run from a git checkout)"}`],
    ["report generated", p.generatedAt],
    ["inventory", `${p.inventory.name}, sha256 ${p.inventory.digest}`],
    [
      "profiles / facts",
      `profiles sha256 ${p.inventory.profilesDigest}${p.inventory.factsDigest ? `; facts sha256 ${p.inventory.factsDigest}` : "; no facts file"}`,
    ],
    ["plan", `sha256 ${p.plan.digest} (${p.plan.source})`],
    [
      "plan applied",
      p.plan.appliedAt ? `${p.plan.appliedAt} (run ${p.plan.appliedRun})` : "not known: no state store given, or never applied",
    ],
    ["policy", r.policy],
    ["verify evidence", verifyEvidence],
  ];
}

/** Per framework: how many controls pass, fail or were not assessed, and the framework's overall standing. */
function frameworkSummary(
  r: Report,
): { standard: string; pass: number; fail: number; notAssessed: number; overall: "pass" | "fail" | "not assessed" }[] {
  return r.standards.map((s) => {
    const cs = r.controls.filter((c) => c.standard === s.standard);
    const n = (st: string) => cs.filter((c) => c.status === st).length;
    const overall = n("fail") ? "fail" : n("not assessed") ? "not assessed" : "pass";
    return { standard: s.standard, pass: n("pass"), fail: n("fail"), notAssessed: n("not assessed"), overall };
  });
}

const ends = (l: { a: string; b: string; encryptors: [string, string] | null }) =>
  `${l.a} ↔ ${l.b}${l.encryptors ? ` via ${l.encryptors.join(" ↔ ")}` : ""}`;

function pairLine(p: ReportPair): string {
  return `${p.a} ~ ${p.b}: ${p.status}; SPIs ${p.spis ?? "-"}; last traffic ${p.lastTraffic ?? "-"}; cipher ${p.cipher ?? "-"}; offload ${p.offload}; observed ${p.observedAt ?? "-"}`;
}

export function reportMarkdown(r: Report): string {
  const L: string[] = [];
  L.push(`# Link encryption report: ${r.inventory}`, "", `**${r.headline}**`, "");
  if (r.warnings.length) L.push(...r.warnings.map((w) => `> **Warning:** ${w}`), "");
  L.push("## Provenance", "", "| | |", "|---|---|", ...provenanceRows(r).map(([k, v]) => `| ${k} | ${cell(v)} |`), "");
  L.push("## Controls", "", "| framework | overall | pass | fail | not assessed |", "|---|---|---|---|---|");
  L.push(
    ...frameworkSummary(r).map((f) => `| ${f.standard} | **${badgeText(f.overall)}** | ${f.pass} | ${f.fail} | ${f.notAssessed} |`),
    "",
  );
  L.push("| framework | control | reference | status | why |", "|---|---|---|---|---|");
  L.push(
    ...r.controls.map((c) => `| ${c.standard} | ${cell(c.title)} | ${cell(c.reference)} | **${badgeText(c.status)}** | ${cell(c.why)} |`),
    "",
  );
  L.push("## Topology", "", topologyMermaid(r), "");
  L.push(
    "## Links",
    "",
    "| link | ends | medium | method | cipher | key age | status | observed | evidence |",
    "|---|---|---|---|---|---|---|---|---|",
  );
  L.push(
    ...r.links.map((l) => {
      const evidence = [...l.proof, ...l.missing.map((m) => `missing: ${m}`), ...(l.proof.length ? [] : l.evidence)].join("; ");
      return (
        `| ${cell(l.name)} | ${cell(ends(l))} | ${l.medium} ${l.speed} | ${l.method} (${cell(l.hardware)}) | ${l.cipher ?? "-"} | ` +
        `${cell(l.keyAge.text)} | ${l.status} | ${l.observedAt ?? "-"} | ${cell(evidence || "-")} |`
      );
    }),
    "",
  );
  // Why each link is not secured, in a sentence (Markdown has no colour: the status column is the word itself).
  const notSecured = r.links.filter((l) => l.status !== "secured" && (l.method === "macsec" || l.method === "l1"));
  if (notSecured.length)
    L.push(...notSecured.map((l) => `- **${cell(l.name)}** (${l.status}): ${cell(l.evidence.join("; ") || "no evidence")}`), "");
  L.push("## Host meshes", "");
  for (const m of r.meshes) {
    const secured = m.pairClasses.reduce((n, c) => n + c.verified.secured, 0);
    L.push(`### Mesh ${m.name}`, "", `${m.name}: ${m.hosts} hosts, ${m.pairs} pairs, ${secured} verified secured. IKE: ${m.ike}`, "");
    L.push(
      "| pair class | host classes | path | site pairs | pairs | method | cipher | offload | verified |",
      "|---|---|---|---|---|---|---|---|---|",
    );
    for (const c of m.pairClasses) {
      const notSecuredCount = c.verified.degraded + c.verified.unsecured;
      const notSecuredPart = notSecuredCount ? `, ${notSecuredCount} not` : "";
      const unknownPart = c.verified.unknown ? `, ${c.verified.unknown} unknown` : "";
      const notVerifiedPart = c.verified.notVerified ? `, ${c.verified.notVerified} not verified` : "";
      const verified =
        c.method === "esp" ? `${c.verified.secured}/${c.pairs} secured${notSecuredPart}${unknownPart}${notVerifiedPart}` : "exempt by plan";
      L.push(
        `| ${c.id} | ${c.hostClasses.join(" ~ ")} | ${c.pathClass} | ${c.sitePairs.join(", ")} | ${c.pairs} | ${c.method} | ` +
          `${c.cipher ?? "-"} | ${cell(c.offload.join("; ") || "-")} | ${verified} |`,
      );
    }
    L.push("");
    for (const c of m.pairClasses.filter((x) => x.pairList.length)) {
      L.push(`Evidence, ${c.id}:`, "", ...c.pairList.slice(0, PAIRS_SHOWN).map((p) => `- ${cell(pairLine(p))}`));
      if (c.pairList.length > PAIRS_SHOWN) L.push(`- … and ${c.pairList.length - PAIRS_SHOWN} more pairs (all in the JSON report)`);
      L.push("");
    }
    if (m.errors.length) L.push(...m.errors.map((e) => `- not read: ${cell(e)}`), "");
  }
  if (!r.meshes.length) L.push("No host mesh in this inventory.", "");
  L.push("## Exceptions", "");
  L.push(
    r.exceptions.length
      ? "| exception | reason | who | when |\n|---|---|---|---|"
      : "None: no link is left in clear by policy and no mesh host is cleared.",
  );
  L.push(...r.exceptions.map((e) => `| ${cell(e.subject)} | ${cell(e.reason)} | ${cell(e.who)} | ${cell(e.when)} |`), "");
  L.push("## Findings", "");
  L.push(
    r.findings.length
      ? "| severity | framework | control | subject | finding |\n|---|---|---|---|---|"
      : `None among the controls assessed (${r.summary.controls.notAssessed} not assessed: see Controls).`,
  );
  L.push(
    ...r.findings.map(
      (f) => `| ${f.severity.toUpperCase()} | ${cell(f.standard)} | ${f.control} | ${cell(f.subject)} | ${cell(f.message)} |`,
    ),
    "",
  );
  L.push("## Frameworks", "", ...r.standards.map((s) => `- **${s.standard}**: ${s.requirement} (policy profile \`${s.policy}\`)`), "");
  return L.join("\n");
}

const CSS = `
:root{--fg:#111}
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:20px;color:var(--fg);font-size:12px;line-height:1.35}
h1{font-size:20px;margin:0 0 6px}h2{font-size:15px;margin:22px 0 6px;border-bottom:1px solid #999;padding-bottom:2px}h3{font-size:13px;margin:14px 0 4px}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border:1px solid #999;padding:3px 6px;text-align:left;vertical-align:top}th{background:#eee}
td.k{width:150px;font-weight:bold}.mono{font-family:"DejaVu Sans Mono",monospace;font-size:11px;word-break:break-all}
.headline{font-size:14px;font-weight:bold;border:2px solid #111;padding:6px 8px}
.warn{border:2px dashed #111;padding:4px 8px;margin:6px 0;font-weight:bold}
.badge{display:inline-block;white-space:nowrap;padding:0 5px;border-radius:3px;font-weight:bold;font-size:11px;border:1px solid #111}
.b-pass,.b-secured{background:#e3f4e3;color:#0b4d0b;border:1px solid #0b4d0b}
.b-fail,.b-unsecured{background:#111;color:#fff;border:2px solid #111}
.b-degraded{background:#fde8cf;color:#111;border:2px double #111}
.b-not-assessed,.b-unknown,.b-not-verified{background:#fff;color:#111;border:1px dashed #111}
.b-critical{background:#111;color:#fff}.b-high{background:#fff;color:#111;border:2px solid #111}.b-medium{border:1px solid #111}.b-low{border:1px dotted #111}
ul.proof{margin:0;padding-left:14px}ul.proof li.missing{font-style:italic}
#topology svg{max-width:100%;height:auto}figure.topo{margin:6px 0 12px}figcaption{font-weight:bold;margin-bottom:4px}
.small{font-size:10px;color:#333}
@page{size:A4 landscape;margin:11mm}
@media print{
  *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  body{margin:0;font-size:10px}
  h2{break-after:avoid}tr,li{break-inside:avoid}tbody.fw{break-inside:avoid}
  figure.topo{break-inside:avoid}
  #topology svg{max-height:170mm}
  a{color:inherit;text-decoration:none}
  /* On paper no badge depends on a background (a browser may drop backgrounds): dark text, and the border tells them apart. */
  .b-fail,.b-unsecured,.b-critical{background:#fff;color:#000;border:2.5px solid #000}
  .b-pass,.b-secured{background:#fff;color:#000;border:1px solid #000}
  .b-degraded{background:#fff;color:#000;border:3px double #000}
}`;

const badge = (s: ReportStatus | ControlStatus | string) => `<span class="badge b-${s.replace(/ /g, "-")}">${esc(badgeText(s))}</span>`;

export function reportHtml(r: Report, topology: string | readonly { title: string; svg: string }[]): string {
  const figures =
    typeof topology === "string"
      ? topology
      : topology.map((f) => `<figure class="topo"><figcaption>${esc(f.title)}</figcaption>${f.svg}</figure>`).join("\n");
  const S = (id: string, title: string, body: string) => `<section id="${id}"><h2>${esc(title)}</h2>${body}</section>`;
  const table = (head: string[], rows: string[][]) =>
    `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows.map((row) => `<tr>${row.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("\n")}</tbody></table>`;
  const list = (items: string[], missing: string[] = []) =>
    items.length || missing.length
      ? `<ul class="proof">${items.map((i) => `<li>${esc(i)}</li>`).join("")}${missing.map((i) => `<li class="missing">missing: ${esc(i)}</li>`).join("")}</ul>`
      : "-";
  const provenance = `<table>${provenanceRows(r)
    .map(([k, v]) => `<tr><td class="k">${esc(k)}</td><td class="mono">${esc(v)}</td></tr>`)
    .join("")}</table>`;
  const summary = table(
    ["framework", "overall", "pass", "fail", "not assessed"],
    frameworkSummary(r).map((f) => [`<b>${esc(f.standard)}</b>`, badge(f.overall), String(f.pass), String(f.fail), String(f.notAssessed)]),
  );
  // One body per framework, its name once (rowspan), kept together on a page.
  const controlsHead = ["framework", "control", "reference", "status", "why"].map((h) => `<th>${h}</th>`).join("");
  const controlsBodies = r.standards
    .map((s) => {
      const cs = r.controls.filter((c) => c.standard === s.standard);
      const rows = cs.map((c, i) => {
        const frameworkCell = i === 0 ? `<td rowspan="${cs.length}"><b>${esc(c.standard)}</b></td>` : "";
        return (
          `<tr data-standard="${esc(c.standard)}">${frameworkCell}<td>${esc(c.title)}</td><td>${esc(c.reference)}</td>` +
          `<td>${badge(c.status)}</td><td>${esc(c.why)}</td></tr>`
        );
      });
      return `<tbody class="fw">${rows.join("")}</tbody>`;
    })
    .join("");
  const controls = `${summary}<table class="controls"><thead><tr>${controlsHead}</tr></thead>${controlsBodies}</table>`;
  const links = table(
    ["link", "ends", "medium", "method", "cipher", "key age", "status", "observed", "evidence"],
    r.links.map((l) => [
      `<b>${esc(l.name)}</b>`,
      esc(ends(l)),
      esc(`${l.medium} ${l.speed}`),
      esc(`${l.method} (${l.hardware})`),
      esc(l.cipher ?? "-"),
      `${esc(l.keyAge.text)}<div class="small">${esc(l.keyAge.source)}</div>`,
      badge(l.status),
      esc(l.observedAt ?? "-"),
      list(l.proof.length ? l.proof : l.evidence, l.missing),
    ]),
  );
  const meshes = r.meshes.length
    ? r.meshes
        .map(
          (m) =>
            `<h3>Mesh ${esc(m.name)}: ${m.hosts} hosts, ${m.pairs} pairs</h3><p>IKE: ${esc(m.ike)}</p>` +
            table(
              ["pair class", "host classes", "path", "site pairs", "pairs", "method", "cipher", "offload", "verified"],
              m.pairClasses.map((c) => {
                const verdict =
                  c.verified.secured === c.pairs && c.pairs
                    ? "secured"
                    : c.verified.unsecured || c.verified.degraded
                      ? "unsecured"
                      : "not verified";
                const notVerifiedPart = c.verified.notVerified ? `, ${c.verified.notVerified} not verified` : "";
                return [
                  `<b>${esc(c.id)}</b>`,
                  esc(c.hostClasses.join(" ~ ")),
                  esc(c.pathClass),
                  esc(c.sitePairs.join(", ")),
                  String(c.pairs),
                  esc(c.method),
                  esc(c.cipher ?? "-"),
                  list(c.offload),
                  c.method === "esp" ? `${badge(verdict)} ${c.verified.secured}/${c.pairs}${notVerifiedPart}` : esc("exempt by plan"),
                ];
              }),
            ) +
            m.pairClasses
              .filter((c) => c.pairList.length)
              .map(
                (c) =>
                  `<div class="pairs" data-class="${esc(c.id)}"><b>Evidence, ${esc(c.id)}</b>` +
                  table(
                    ["pair", "status", "SPIs (in/out)", "last traffic", "cipher", "offload", "observed"],
                    c.pairList
                      .slice(0, PAIRS_SHOWN)
                      .map((p) => [
                        esc(`${p.a} ~ ${p.b}`),
                        badge(p.status),
                        `<span class="mono">${esc(p.spis ?? "-")}</span>`,
                        esc(p.lastTraffic ?? "-"),
                        esc(p.cipher ?? "-"),
                        esc(p.offload),
                        esc(p.observedAt ?? "-"),
                      ]),
                  ) +
                  (c.pairList.length > PAIRS_SHOWN
                    ? `<p class="small">… and ${c.pairList.length - PAIRS_SHOWN} more pairs (all in the JSON report)</p>`
                    : "") +
                  "</div>",
              )
              .join("") +
            (m.errors.length ? `<p><b>Not read:</b></p>${list(m.errors)}` : ""),
        )
        .join("")
    : "<p>No host mesh in this inventory.</p>";
  const exceptions = r.exceptions.length
    ? table(
        ["exception", "reason", "who", "when"],
        r.exceptions.map((e) => [esc(e.subject), esc(e.reason), esc(e.who), esc(e.when)]),
      )
    : "<p>None: no link is left in clear by policy and no mesh host is cleared.</p>";
  const findings = r.findings.length
    ? table(
        ["severity", "framework", "control", "subject", "finding"],
        r.findings.map((f) => [
          `<span class="badge b-${f.severity}">${esc(f.severity.toUpperCase())}</span>`,
          esc(f.standard),
          esc(f.control),
          esc(f.subject),
          esc(f.message),
        ]),
      )
    : `<p>None among the controls assessed (${r.summary.controls.notAssessed} not assessed: see Controls).</p>`;
  // Every printed page names the report it belongs to (inventory, time, plan digest) and its number.
  const cssString = (t: string) => `"${t.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\n\r<>]/g, " ")}"`;
  const footerLabel = cssString(`linkcrypt report · ${r.inventory} · ${r.generatedAt} · plan ${r.provenance.plan.digest.slice(0, 12)}`);
  const footer =
    `@page{@bottom-left{content:${footerLabel};font:8px "DejaVu Sans",sans-serif;color:#333}` +
    `@bottom-right{content:"page " counter(page) " of " counter(pages);font:8px "DejaVu Sans",sans-serif;color:#333}}`;
  const topologyLegend =
    `<p class="small">Solid line: verified secured. Dashed: not verified secured (the label says which). ` +
    `Boxes: devices with their ports; rounded boxes: mesh hosts per site.</p>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(`linkcrypt report: ${r.inventory}`)}</title><style>${CSS}
${footer}</style></head><body>
<h1>Link encryption report: ${esc(r.inventory)}</h1>
<p class="headline" id="headline">${esc(r.headline)}</p>
${r.warnings.map((w) => `<p class="warn">⚠ Warning: ${esc(w)}</p>`).join("\n")}
${S("provenance", "Provenance", provenance)}
${S("controls", "Controls", controls)}
${S("topology", "Topology", `${figures}${topologyLegend}`)}
${S("links", "Links", links)}
${S("meshes", "Host meshes", meshes)}
${S("exceptions", "Exceptions", exceptions)}
${S("findings", "Findings", findings)}
${S("frameworks", "Frameworks", `<ul>${r.standards.map((s) => `<li><b>${esc(s.standard)}</b>: ${esc(s.requirement)} (policy profile <code>${esc(s.policy)}</code>)</li>`).join("")}</ul>`)}
</body></html>
`;
}
