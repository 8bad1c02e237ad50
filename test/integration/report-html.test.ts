import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM_FLAGS, chromiumPath } from "../../src/report/pdf.js";
import { cli } from "../cli-run.js";
import { threeSiteVerify } from "./report-fixture.js";

/**
 * The HTML and PDF reports in a real browser: headless Chromium's DOM after load, its print-to-PDF, and the PDF's
 * pages through poppler-utils (pdftoppm, pdftotext). The docs' screenshots come from the lab flow's report
 * (report-lab.test.ts, with LINKCRYPT_WRITE_DOCS=1).
 */
const dir = mkdtempSync(join(tmpdir(), "lc-report-"));

function chromium(...args: string[]): string {
  const profile = mkdtempSync(join(tmpdir(), "lc-chromium-"));
  return execFileSync(chromiumPath(), [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, ...args], {
    stdio: ["ignore", "pipe", "ignore"],
    timeout: 90_000,
  }).toString();
}

/** The text of the element with this id in dumped HTML (tags removed, entities for <>& decoded). */
function section(dom: string, id: string): string {
  const m = new RegExp(`<section id="${id}">([\\s\\S]*?)</section>`).exec(dom);
  if (!m) throw new Error(`no section #${id} in the DOM`);
  return m[1]!
    .replace(/<[^>]+>/g, " ")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&")
    .replace(/\s+/g, " ");
}

/** Share of dark pixels in a binary PGM (P5) image. */
function inkShare(pgm: Buffer): number {
  const head = /^P5\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(pgm.subarray(0, 64).toString("latin1"))!;
  const [w, h] = [Number(head[1]), Number(head[2])];
  const px = pgm.subarray(head[0].length, head[0].length + w * h);
  let dark = 0;
  for (const v of px) if (v < 160) dark++;
  return dark / (w * h);
}

let html = "";
let verifyFile = "";

beforeAll(async () => {
  verifyFile = (await threeSiteVerify(dir)).file;
  html = join(dir, "report.html");
  const r = await cli("report", "examples/three-site-mixed.yaml", "--verify", verifyFile, "--format", "html", "--out", html);
  expect(r.err).toBe("");
  expect(r.code).toBe(0);
}, 120_000);

describe("report: HTML in headless Chromium", () => {
  it("every section is in the rendered DOM with its content", () => {
    const dom = chromium("--dump-dom", `file://${html}`);
    const prov = section(dom, "provenance");
    expect(prov).toMatch(/linkcrypt 0\.1\.0, commit [0-9a-f]{40}/);
    expect(prov).toMatch(/three-site-mixed, sha256 sha256:[0-9a-f]{64}/);
    expect(prov).toMatch(/plan sha256 [0-9a-f]{64}/);
    expect(prov).toMatch(
      /verify evidence .*verify\.json, sha256 [0-9a-f]{64}; inventory three-site-mixed; collected \S+Z to \S+Z \(\d+ min before this report; freshness limit 24 h\)/,
    );
    const controls = section(dom, "controls");
    const rows = /<section id="controls">([\s\S]*?)<\/section>/.exec(dom)![1]!;
    for (const f of ["PCI DSS 4.0", "CNSA", "RFC 8221/8247", "BSI TR-02102-3"])
      expect(rows.split(`<tr data-standard="${f}">`).length - 1).toBe(5);
    expect(controls).toMatch(/framework overall pass fail not assessed PCI DSS 4\.0 ✔ PASS 5 0 0 CNSA ✔ PASS 5 0 0/);
    expect(controls).toContain("✔ PASS");
    expect(controls).toContain("4.2.1 objective: cleartext cannot be read or intercepted");
    const topo = section(dom, "topology");
    for (const s of ["lon1-sw1", "Ethernet1/1", "lon1-enc1", "par1-enc1", "lon1-par1-wave", "SECURED", "site nyc1", "mesh global"])
      expect(topo).toContain(s);
    const links = section(dom, "links");
    expect(links).toMatch(/lon1-enc1: encryptor status secure, AES-256-GCM, key age 1\.5 h, key generation 42/);
    expect(links).toMatch(/par1-enc1: encryptor status secure/);
    const meshes = section(dom, "meshes");
    expect(meshes).toMatch(/c0000000\/d0000000/);
    expect(meshes).toMatch(/AES_GCM_16-256 \(negotiated\)/);
    expect(meshes).toMatch(/\d+ s ago/);
    expect(meshes).toMatch(/hw_offload=/);
    expect(section(dom, "exceptions")).toMatch(/None: no link is left in clear/);
    expect(section(dom, "findings")).toMatch(/None among the controls assessed \(0 not assessed/);
    expect(dom).not.toMatch(/>No findings\.</);
  });

  it("topology labels never overlap, and the topology stays legible when fitted to A4", () => {
    expect(overlapCheck(html)).toEqual({ figures: 1, overlaps: [], tooSmall: [] });
  });

  it("a fleet too large for one legible page gets a site overview and one figure per site pair, each legible", async () => {
    const fleet = join(dir, "fleet.yaml");
    writeFileSync(fleet, execFileSync("npx", ["tsx", "examples/generate-fleet.ts", "--hosts", "60", "--links", "30"]));
    const out = join(dir, "fleet.html");
    const r = await cli("report", fleet, "--format", "html", "--out", out);
    expect(r.code, r.err).toBeLessThanOrEqual(1); // the generated fleet has findings (exit 1); anything else is a failure
    expect(r.err).not.toMatch(/internal error/);
    const res = overlapCheck(out);
    expect(res.figures).toBeGreaterThan(5);
    expect(res).toEqual({ figures: res.figures, overlaps: [], tooSmall: [] });
    expect(readFileSync(out, "utf8")).toMatch(/<figcaption>Overview: sites, with the links and mesh pairs between them<\/figcaption>/);
  }, 120_000);
});

/**
 * Renders every topology figure of an HTML report in Chromium, each fitted to A4 landscape's printable area as the
 * print CSS does, and returns the pairs of labels whose boxes overlap and the labels smaller than 6 pt (8 CSS px).
 */
function overlapCheck(file: string): { figures: number; overlaps: string[][]; tooSmall: string[] } {
  {
    const svgs = readFileSync(file, "utf8").match(/<svg[\s\S]*?<\/svg>/g)!;
    const svg = svgs.map((x) => `<div class="box" style="width:275mm">${x}</div>`).join("");
    // A4 landscape less the print margins: 275 mm wide, 170 mm high at most (the print CSS caps it there).
    const harness = join(dir, `overlap-${Math.random().toString(36).slice(2)}.html`);
    writeFileSync(
      harness,
      `<!doctype html><html><body style="margin:0">${svg}<pre id="result"></pre><script>
const overlaps = [], tooSmall = [];
let texts = 0;
for (const svg of document.querySelectorAll("svg")) {
  svg.style.maxWidth = "100%"; svg.style.maxHeight = "170mm"; svg.style.height = "auto"; svg.style.width = "auto";
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  const boxes = [...svg.querySelectorAll("text")].filter((t) => t.textContent.trim()).map((t) => {
    const r = t.getBoundingClientRect();
    return { s: t.textContent, x1: r.left, y1: r.top, x2: r.right, y2: r.bottom, px: parseFloat(t.getAttribute("font-size")) * scale };
  });
  texts += boxes.length;
  for (let i = 0; i < boxes.length; i++) {
    if (boxes[i].px < 8) tooSmall.push(boxes[i].s + " " + boxes[i].px.toFixed(1) + "px");
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      const w = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1), h = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
      if (w > 1 && h > 1) overlaps.push([a.s, b.s]);
    }
  }
}
document.getElementById("result").textContent = JSON.stringify({ figures: document.querySelectorAll("svg").length, texts, overlaps, tooSmall });
</script></body></html>`,
    );
    const dom = chromium("--dump-dom", `file://${harness}`);
    const res = JSON.parse(
      /<pre id="result">([\s\S]*?)<\/pre>/
        .exec(dom)![1]!
        .replace(/&quot;/g, '"')
        .replace(/&amp;/g, "&")
        .replace(/&lt;/g, "<")
        .replace(/&gt;/g, ">"),
    ) as { figures: number; texts: number; overlaps: string[][]; tooSmall: string[] };
    expect(res.texts).toBeGreaterThan(10 * res.figures);
    return { figures: res.figures, overlaps: res.overlaps, tooSmall: res.tooSmall };
  }
}

describe("report: PDF through Chromium", () => {
  it("prints to a PDF whose pages all carry content, with badges that read in black and white; screenshots", async () => {
    const pdf = join(dir, "report.pdf");
    const r = await cli("report", "examples/three-site-mixed.yaml", "--verify", verifyFile, "--format", "pdf", "--out", pdf);
    expect(r.code).toBe(0);
    expect(readFileSync(pdf).subarray(0, 5).toString()).toBe("%PDF-");
    const info = execFileSync("pdfinfo", [pdf]).toString();
    const pages = Number(/^Pages:\s+(\d+)/m.exec(info)![1]);
    expect(pages).toBeGreaterThanOrEqual(2);
    expect(info).toMatch(/Page size:\s+841\.9\d? x 595\.\d+ pts \(A4\)|Page size:\s+841\.92 x 594\.96 pts \(A4\)/);
    // Every page, rendered in greyscale, has ink on it.
    execFileSync("pdftoppm", ["-gray", "-r", "40", pdf, join(dir, "page")]);
    const pgms = readdirSync(dir)
      .filter((f) => /^page-\d+\.pgm$/.test(f))
      .sort();
    expect(pgms).toHaveLength(pages);
    for (const p of pgms) expect(inkShare(readFileSync(join(dir, p)))).toBeGreaterThan(0.003);
    // The text is real text, in order: provenance first, then controls with their words, the topology's labels.
    const first = execFileSync("pdftotext", ["-f", "1", "-l", "1", "-layout", pdf, "-"]).toString();
    expect(first).toMatch(/Link encryption report: three-site-mixed/);
    expect(first).toMatch(/Provenance/);
    expect(first).toMatch(/commit [0-9a-f]{12}/);
    // Each page says which report it belongs to and where it sits.
    expect(first).toMatch(new RegExp(`linkcrypt report · three-site-mixed · \\S+Z · plan [0-9a-f]{12}[\\s\\S]*page 1 of ${pages}`));
    const all = execFileSync("pdftotext", ["-layout", pdf, "-"]).toString();
    for (const s of ["Controls", "✔ PASS", "Topology", "lon1-par1-wave", "key generation 42", "Exceptions", "Findings", "AES_GCM_16-256"])
      expect(all).toContain(s);
    // Screenshots: the HTML, and the PDF's first page.
    const htmlPng = join(dir, "report-html.png");
    chromium("--window-size=1280,1500", `--screenshot=${htmlPng}`, `file://${html}`);
    execFileSync("pdftoppm", ["-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", pdf, join(dir, "report-pdf-page1")]);
    for (const png of [htmlPng, join(dir, "report-pdf-page1.png")]) {
      expect(readFileSync(png).subarray(1, 4).toString()).toBe("PNG");
      expect(statSync(png).size).toBeGreaterThan(30_000);
    }
  }, 180_000);

  it("--format pdf without --out is a usage error", async () => {
    expect((await cli("report", "examples/three-site-mixed.yaml", "--format", "pdf")).code).toBe(64);
  });
});
