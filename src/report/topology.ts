import { instance } from "@viz-js/viz";
import type { Report } from "./report.js";

/**
 * The topology as Graphviz (dot) lays it out: sites as clusters, devices with their ports, L1 encryptors between the
 * switch ports they protect, mesh hosts per site, and one edge per link or mesh path, labelled with its method and
 * state. dot places edge labels as nodes of their own, so they do not overprint. Solid: verified secured; dashed:
 * anything else; the label says which in words, so it reads the same in black and white.
 */
const METHOD_COLOR: Record<string, string> = {
  l1: "#6a3d9a",
  macsec: "#1f78b4",
  "host-mesh": "#d95f02",
  esp: "#d95f02",
  none: "#555555",
  refused: "#b30000",
};

const q = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
const h = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const word = (status: string) => (status === "secured" ? "SECURED" : status === "not verified" ? "NOT VERIFIED" : status.toUpperCase());

/** A device reference "dev:port" split at the first colon. */
const splitEnd = (s: string): [string, string] => {
  const i = s.indexOf(":");
  return i < 0 ? [s, ""] : [s.slice(0, i), s.slice(i + 1)];
};

/**
 * Every link drawn from the end whose site (then device port) sorts first: dot spaces the labels of parallel edges that
 * run the same way, but two links between the same nodes in opposite directions would get labels on top of each other.
 */
function oriented(l: Report["links"][number]): Report["links"][number] {
  const flip = l.sites[0] > l.sites[1] || (l.sites[0] === l.sites[1] && l.a > l.b);
  if (!flip) return l;
  return { ...l, a: l.b, b: l.a, sites: [l.sites[1], l.sites[0]], encryptors: l.encryptors ? [l.encryptors[1], l.encryptors[0]] : null };
}

export function topologyDot(report: Report, rankdir: "LR" | "TB" = "LR"): string {
  const r = { ...report, links: report.links.map(oriented) };
  const devices = new Map<string, { site: string; ports: string[]; kind: "switch" | "encryptor" }>();
  const addPort = (dev: string, site: string, port: string, kind: "switch" | "encryptor" = "switch") => {
    const d = devices.get(dev) ?? { site, ports: [], kind };
    if (port && !d.ports.includes(port)) d.ports.push(port);
    if (kind === "encryptor") d.kind = kind;
    devices.set(dev, d);
  };
  const portId = (dev: string, port: string) => {
    const d = devices.get(dev);
    const i = d ? d.ports.indexOf(port) : -1;
    return i < 0 ? q(dev) : `${q(dev)}:p${i}`;
  };
  // Collect devices and ports first, then draw.
  for (const l of r.links) {
    const [ad, ap] = splitEnd(l.a);
    const [bd, bp] = splitEnd(l.b);
    if (l.method === "l1" && l.encryptors) {
      const [ea, eb] = l.encryptors;
      const aIsEnc = ad === ea;
      addPort(ea, l.sites[0], "line", "encryptor");
      addPort(eb, l.sites[1], "line", "encryptor");
      if (!aIsEnc) {
        addPort(ad, l.sites[0], ap);
        addPort(ea, l.sites[0], "client", "encryptor");
      }
      if (bd !== eb) {
        addPort(bd, l.sites[1], bp);
        addPort(eb, l.sites[1], "client", "encryptor");
      }
    } else {
      addPort(ad, l.sites[0], ap);
      addPort(bd, l.sites[1], bp);
    }
  }
  const edges: string[] = [];
  const labels: LabelNode[] = [];
  for (const l of r.links) {
    const [ad, ap] = splitEnd(l.a);
    const [bd, bp] = splitEnd(l.b);
    const secured = l.status === "secured";
    const label = `${l.name}\n${l.method}${l.cipher ? ` ${l.cipher}` : ""}\n${l.method === "host-mesh" ? "see mesh pairs" : word(l.status)}`;
    const attrs = `color=${q(METHOD_COLOR[l.method] ?? "#000000")}, style=${secured ? "solid" : "dashed"}, penwidth=${secured ? 2.4 : 1.8}`;
    const site = l.sites[0] === l.sites[1] ? l.sites[0] : null;
    if (l.method === "l1" && l.encryptors) {
      const [ea, eb] = l.encryptors;
      if (ad !== ea) edges.push(`${portId(ad, ap)} -> ${portId(ea, "client")} [color="#444444", penwidth=1.2]`);
      labelled(edges, labels, portId(ea, "line"), portId(eb, "line"), label, attrs, site);
      if (bd !== eb) edges.push(`${portId(eb, "client")} -> ${portId(bd, bp)} [color="#444444", penwidth=1.2]`);
    } else labelled(edges, labels, portId(ad, ap), portId(bd, bp), label, attrs, site);
  }
  // Mesh hosts: one node per mesh and site; one edge per site pair the mesh's pairs cross, labelled with its classes.
  const meshNodes: { id: string; site: string; label: string }[] = [];
  for (const m of r.meshes) {
    const bySite = new Map<string, string[]>();
    for (const x of m.members) bySite.set(x.site, [...(bySite.get(x.site) ?? []), x.name]);
    for (const [site, hosts] of bySite) {
      const shown = hosts.length <= 4 ? hosts.join(", ") : `${hosts.slice(0, 3).join(", ")} +${hosts.length - 3}`;
      meshNodes.push({
        id: `mesh:${m.name}:${site}`,
        site,
        label: `mesh ${m.name}\n${hosts.length} host${hosts.length === 1 ? "" : "s"}: ${shown}`,
      });
    }
    const bySitePair = new Map<string, { c: (typeof m.pairClasses)[number]; pairs: number; secured: number }[]>();
    for (const c of m.pairClasses)
      for (const x of c.bySitePair)
        bySitePair.set(x.sitePair, [...(bySitePair.get(x.sitePair) ?? []), { c, pairs: x.pairs, secured: x.secured }]);
    for (const [sp, classes] of bySitePair) {
      const [sa, sb] = sp.split("~") as [string, string];
      const allSecured = classes.every((x) => x.c.method !== "esp" || (x.secured === x.pairs && x.pairs > 0));
      // One short label per site pair: the classes, their ciphers, and how many of their pairs verify showed secured.
      const esp = classes.filter((x) => x.c.method === "esp");
      const other = classes.filter((x) => x.c.method !== "esp");
      const lines = [
        ...(esp.length
          ? [
              `${esp.map((x) => x.c.id).join(", ")}: ESP ${[...new Set(esp.map((x) => x.c.cipher ?? "?"))].join(", ")}`,
              `${esp.reduce((n, x) => n + x.secured, 0)}/${esp.reduce((n, x) => n + x.pairs, 0)} pairs ${allSecured ? "SECURED" : "verified secured"}`,
            ]
          : []),
        ...other.map((x) => `${x.c.id}: ${x.c.method}, ${x.pairs} pairs`),
      ];
      const label = lines.join("\n");
      labelled(
        edges,
        labels,
        q(`mesh:${m.name}:${sa}`),
        q(`mesh:${m.name}:${sb}`),
        label,
        `color=${q(METHOD_COLOR.esp!)}, style=${allSecured ? "solid" : "dashed"}, penwidth=${allSecured ? 2.4 : 1.8}`,
        sa === sb ? sa : null,
      );
    }
  }
  const sites = [...new Set([...r.sites, ...[...devices.values()].map((d) => d.site), ...meshNodes.map((n) => n.site)])].sort();
  const clusters = sites.map((s, i) => {
    const nodes = [...devices.entries()]
      .filter(([, d]) => d.site === s)
      .map(([name, d]) => {
        const rows = d.ports.map((p, j) => `<TR><TD PORT="p${j}" ALIGN="LEFT">${h(p)}</TD></TR>`).join("");
        return (
          `${q(name)} [shape=plain, label=<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">` +
          `<TR><TD BGCOLOR="#eeeeee"><B>${h(name)}</B>  <FONT POINT-SIZE="8">${d.kind}</FONT></TD></TR>${rows}</TABLE>>]`
        );
      });
    const mesh = meshNodes.filter((n) => n.site === s).map((n) => `${q(n.id)} [shape=box, style="rounded", label=${q(n.label)}]`);
    const inner = labels.filter((x) => x.site === s).map(labelNode);
    return `subgraph ${q(`cluster_${i}`)} { label=${q(`site ${s}`)}; style="rounded"; color="#777777"; fontsize=11; ${[...nodes, ...mesh, ...inner].join("; ")} }`;
  });
  return [
    "digraph topology {",
    `  graph [rankdir=${rankdir}, fontname="DejaVu Sans", fontsize=10, nodesep=0.3, ranksep=0.5, newrank=true, pad=0.1];`,
    '  node [fontname="DejaVu Sans", fontsize=9];',
    '  edge [fontname="DejaVu Sans", fontsize=8, dir=none];',
    ...clusters.map((c) => `  ${c}`),
    ...labels.filter((x) => x.site === null).map((x) => `  ${labelNode(x)};`),
    ...edges.map((e) => `  ${e};`),
    "}",
  ].join("\n");
}

/**
 * An edge label drawn as a node of its own in the middle of the edge (tail -> label -> head). dot never lets two nodes
 * overlap, whereas its edge labels can collide (flat edges between clusters, loops). A label between two ends on the
 * same site sits in that site's cluster.
 */
interface LabelNode {
  id: string;
  site: string | null;
  label: string;
}

function labelled(
  edges: string[],
  labels: LabelNode[],
  tail: string,
  head: string,
  label: string,
  attrs: string,
  site: string | null,
): void {
  const id = q(`label:${labels.length}`);
  labels.push({ id, site, label });
  edges.push(`${tail} -> ${id} [${attrs}]`, `${id} -> ${head} [${attrs}]`);
}

const labelNode = (x: LabelNode) => `${x.id} [shape=plaintext, fontsize=8, margin="0.03,0.02", height=0, width=0, label=${q(x.label)}]`;

/**
 * Sites only: one node per site (with its device and mesh host counts) and one edge per site pair, labelled with how
 * many links of each method and state join them, and the mesh pairs across it. The overview for inventories whose
 * device-level drawing would not be legible on one A4 page.
 */
export function siteOverviewDot(r: Report, rankdir: "LR" | "TB" = "LR"): string {
  const devs = new Map<string, Set<string>>();
  const add = (site: string, dev: string) => devs.set(site, (devs.get(site) ?? new Set()).add(dev));
  const pairKey = (a: string, b: string) => [a, b].sort().join("~");
  const links = new Map<string, Map<string, number>>();
  for (const l of r.links) {
    add(l.sites[0], splitEnd(l.a)[0]);
    add(l.sites[1], splitEnd(l.b)[0]);
    for (const [i, e] of (l.encryptors ?? []).entries()) add(l.sites[i as 0 | 1], e);
    const k = pairKey(l.sites[0], l.sites[1]);
    const m = links.get(k) ?? new Map<string, number>();
    const what = `${l.method}${l.method === "host-mesh" ? "" : ` ${word(l.status)}`}`;
    m.set(what, (m.get(what) ?? 0) + 1);
    links.set(k, m);
  }
  const mesh = new Map<string, { pairs: number; secured: number }>();
  for (const m of r.meshes)
    for (const c of m.pairClasses)
      for (const x of c.bySitePair) {
        if (c.method !== "esp") continue;
        const [sa, sb] = x.sitePair.split("~") as [string, string];
        const k = pairKey(sa, sb);
        const v = mesh.get(k) ?? { pairs: 0, secured: 0 };
        mesh.set(k, { pairs: v.pairs + x.pairs, secured: v.secured + x.secured });
      }
  const hosts = new Map<string, number>();
  for (const m of r.meshes) for (const x of m.members) hosts.set(x.site, (hosts.get(x.site) ?? 0) + 1);
  const nodes = r.sites.map(
    (s) =>
      `  ${q(`site:${s}`)} [shape=box, style="rounded", label=${q(`site ${s}\n${devs.get(s)?.size ?? 0} devices${hosts.get(s) ? `, ${hosts.get(s)} mesh hosts` : ""}`)}];`,
  );
  const edges: string[] = [];
  const labels: LabelNode[] = [];
  for (const k of [...new Set([...links.keys(), ...mesh.keys()])].sort()) {
    const [a, b] = k.split("~") as [string, string];
    const lines = [...(links.get(k) ?? new Map()).entries()].sort().map(([w, n]) => `${n} ${w}`);
    const mp = mesh.get(k);
    if (mp) lines.push(`ESP pairs verified secured: ${mp.secured}/${mp.pairs}`);
    const allSecured =
      [...(links.get(k)?.keys() ?? [])].every((w) => w.endsWith(" SECURED") || w === "host-mesh") && (!mp || mp.secured === mp.pairs);
    labelled(
      edges,
      labels,
      q(`site:${a}`),
      q(`site:${b}`),
      lines.join("\n"),
      `style=${allSecured ? "solid" : "dashed"}, penwidth=${allSecured ? 2.4 : 1.8}`,
      null,
    );
  }
  return [
    "digraph overview {",
    `  graph [rankdir=${rankdir}, fontname="DejaVu Sans", fontsize=12, nodesep=0.3, ranksep=0.5, pad=0.1];`,
    '  node [fontname="DejaVu Sans", fontsize=12];',
    '  edge [fontname="DejaVu Sans", dir=none];',
    // Larger type than the device drawings: an overview of many sites is shrunk more to fit the page.
    ...nodes,
    ...labels.map((x) => `  ${labelNode(x).replace("fontsize=8", "fontsize=11")};`),
    ...edges.map((e) => `  ${e};`),
    "}",
  ].join("\n");
}

let viz: Awaited<ReturnType<typeof instance>> | undefined;

/** The printable area the topology must fit at full size to stay legible: A4 landscape less margins, in points. */
export const A4_FIT = { widthPt: 275 * (72 / 25.4), heightPt: 170 * (72 / 25.4) };
/** The least a drawing may be shrunk to fit A4: 8 pt labels stay 6 pt or more. */
export const MIN_FIT = 0.75;

export interface TopologyFigure {
  title: string;
  svg: string;
  /** How much it is shrunk to fit A4 (1 = natural size or smaller). */
  fit: number;
}

const fitOf = (svg: string) => {
  const m = /width="([\d.]+)pt" height="([\d.]+)pt"/.exec(svg);
  return m ? Math.min(1, A4_FIT.widthPt / Number(m[1]), A4_FIT.heightPt / Number(m[2])) : 0;
};

async function render(dotOf: (d: "LR" | "TB") => string, springs = false): Promise<{ svg: string; fit: number }> {
  viz ??= await instance();
  // Lay out left-to-right and top-to-bottom (and, for the site overview, with springs: fdp without node overlaps);
  // keep the one that needs the least shrinking to fit the page.
  const both = (["LR", "TB"] as const).map((d) => viz!.renderString(dotOf(d), { format: "svg", engine: "dot" }));
  if (springs)
    both.push(
      viz.renderString(dotOf("LR"), { format: "svg", engine: "fdp", graphAttributes: { overlap: "false", splines: "true", sep: "+4" } }),
    );
  const svg = both.reduce((a, b) => (fitOf(b) > fitOf(a) ? b : a));
  // Drop the XML prolog and doctype so it can be inlined in HTML; label it for assistive tech and tests.
  return { svg: svg.slice(svg.indexOf("<svg")).replace("<svg ", '<svg role="img" aria-label="topology" '), fit: fitOf(svg) };
}

/**
 * The topology as one or more SVG figures (Graphviz in WebAssembly, no external binary). One figure when the whole
 * inventory stays legible on A4; otherwise a site overview plus one figure per site pair that links join, each with
 * its devices and ports (the mesh is then shown in the overview).
 */
export async function topologyFigures(r: Report): Promise<TopologyFigure[]> {
  const whole = await render((d) => topologyDot(r, d));
  if (whole.fit >= MIN_FIT) return [{ title: "All sites", ...whole }];
  const out: TopologyFigure[] = [
    { title: "Overview: sites, with the links and mesh pairs between them", ...(await render((d) => siteOverviewDot(r, d), true)) },
  ];
  const bySitePair = new Map<string, Report["links"]>();
  for (const l of r.links) {
    const k = [...l.sites].sort().join(" ~ ");
    bySitePair.set(k, [...(bySitePair.get(k) ?? []), l]);
  }
  for (const [k, links] of [...bySitePair.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const sub: Report = { ...r, links, meshes: [], sites: [...new Set(links.flatMap((l) => l.sites))].sort() };
    out.push({ title: `Sites ${k}: devices and ports`, ...(await render((d) => topologyDot(sub, d))) });
  }
  return out;
}

/** The same topology as a Mermaid flowchart, for the Markdown report. */
export function topologyMermaid(r: Report): string {
  const ids = new Map<string, string>();
  const id = (s: string) => {
    let v = ids.get(s);
    if (!v) ids.set(s, (v = `n${ids.size}`));
    return v;
  };
  const txt = (s: string) => s.replace(/"/g, "'").replace(/[<>]/g, "");
  const bySite = new Map<string, string[]>();
  const node = (site: string, key: string, label: string) => {
    const list = bySite.get(site) ?? [];
    const line = `${id(key)}["${txt(label)}"]`;
    if (!list.includes(line)) list.push(line);
    bySite.set(site, list);
  };
  const edges: string[] = [];
  const link = (a: string, b: string, label: string, secured: boolean) =>
    edges.push(`  ${id(a)} ${secured ? "---" : "-.-"}|"${txt(label)}"| ${id(b)}`);
  for (const l of r.links) {
    const secured = l.status === "secured";
    const label = `${l.name}: ${l.method}${l.cipher ? ` ${l.cipher}` : ""}, ${word(l.status)}`;
    const [ad] = splitEnd(l.a);
    const [bd] = splitEnd(l.b);
    node(l.sites[0], l.a, l.a);
    node(l.sites[1], l.b, l.b);
    if (l.method === "l1" && l.encryptors) {
      const [ea, eb] = l.encryptors;
      node(l.sites[0], ea, `${ea} (encryptor)`);
      node(l.sites[1], eb, `${eb} (encryptor)`);
      if (ad !== ea) link(l.a, ea, "client", true);
      link(ea, eb, label, secured);
      if (bd !== eb) link(eb, l.b, "client", true);
    } else link(l.a, l.b, label, secured);
  }
  for (const m of r.meshes) {
    for (const s of new Set(m.members.map((x) => x.site))) {
      const hosts = m.members.filter((x) => x.site === s).map((x) => x.name);
      node(s, `mesh:${m.name}:${s}`, `mesh ${m.name}: ${hosts.join(", ")}`);
    }
    for (const c of m.pairClasses)
      for (const x of c.bySitePair) {
        const [sa, sb] = x.sitePair.split("~") as [string, string];
        link(
          `mesh:${m.name}:${sa}`,
          `mesh:${m.name}:${sb}`,
          `${c.id}: ${c.method === "esp" ? `ESP ${c.cipher ?? ""}, ${x.secured}/${x.pairs} SECURED` : `${c.method}, ${x.pairs} pairs`}`,
          c.method !== "esp" || (x.secured === x.pairs && x.pairs > 0),
        );
      }
  }
  const lines = ["```mermaid", "flowchart LR"];
  for (const [s, nodes] of [...bySite.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    lines.push(`  subgraph ${id(`site:${s}`)}["site ${txt(s)}"]`, ...nodes.map((n) => `    ${n}`), "  end");
  }
  lines.push(...edges, "```");
  return lines.join("\n");
}
