import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import { collectExceptions, readVerifyFile } from "../../src/report/provenance.js";
import { buildReport } from "../../src/report/report.js";
import { reportHtml, reportMarkdown } from "../../src/report/render.js";
import { topologyDot, topologyMermaid } from "../../src/report/topology.js";
import { cli } from "../cli-run.js";
import { profiles } from "../helpers.js";
import { threeSiteVerify } from "../integration/report-fixture.js";

const TOOL = { version: "0.1.0", commit: "0123456789abcdef" };
const tmp = () => mkdtempSync(join(tmpdir(), "lc-report-unit-"));

describe("report: the verify file is checked against the inventory", () => {
  it("refuses a verify file from another inventory, in report and in metrics (exit 1, naming both)", async () => {
    const { file } = await threeSiteVerify(tmp(), (v) => {
      v.inventory = "two-site-dwdm";
    });
    for (const verb of ["report", "metrics"]) {
      const r = await cli(verb, "examples/three-site-mixed.yaml", "--verify", file);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/evidence from inventory "two-site-dwdm", not "three-site-mixed"/);
      expect(r.out).toBe("");
    }
  });

  it("refuses an unnamed verify file whose inventory digest differs; accepts a named one of an edited inventory with a warning", async () => {
    const dir = tmp();
    const { file, plan } = await threeSiteVerify(dir, (v) => {
      delete v.inventory;
      v.plan = { ...v.plan, inventoryDigest: "sha256:0000" };
    });
    const inv = { name: plan.inventory, digest: plan.inputs.inventoryDigest };
    expect(() => readVerifyFile(file, inv, { now: new Date(), maxAgeHours: 24 })).toThrow(
      /names no inventory and was made from a different inventory/,
    );
    const named = await threeSiteVerify(tmp(), (v) => {
      v.plan = { ...v.plan, inventoryDigest: "sha256:0000" };
    });
    const ok = readVerifyFile(named.file, inv, { now: new Date(), maxAgeHours: 24 });
    expect(ok.provenance.warnings.join(" ")).toMatch(/inventory changed since this evidence was collected/);
  });

  it("flags evidence older than the freshness limit: warned on stderr, in the report, and no control passes as observed", async () => {
    const old = new Date(Date.now() - 7 * 30 * 86400_000).toISOString();
    const { file } = await threeSiteVerify(tmp(), (v) => {
      v.observedAt = old;
      v.startedAt = old;
    });
    const r = await cli("report", "examples/three-site-mixed.yaml", "--verify", file, "--format", "json");
    const rep = JSON.parse(r.out);
    expect(r.err).toMatch(/warning: the evidence was collected .* (\d+) days ago; the freshness limit is 24 h/);
    expect(rep.provenance.verify.stale).toBe(true);
    expect(rep.provenance.verify.collectedAt).toBe(old);
    expect(rep.warnings.join(" ")).toMatch(/freshness limit/);
    const op = rep.controls.filter((c: { control: string }) => c.control === "in-operation");
    expect(op).toHaveLength(4);
    for (const c of op) expect([c.status, c.why]).toEqual(["not assessed", expect.stringMatching(/h old; the freshness limit is 24 h/)]);
    // A wider limit accepts the same file.
    const wide = JSON.parse(
      (await cli("report", "examples/three-site-mixed.yaml", "--verify", file, "--format", "json", "--max-evidence-age", "8760")).out,
    );
    expect(wide.provenance.verify.stale).toBe(false);
    expect((await cli("report", "examples/three-site-mixed.yaml", "--max-evidence-age", "soon")).code).toBe(64);
  });

  it("refuses garbled and wrongly shaped verify files with exit 1", async () => {
    const dir = tmp();
    const bad = join(dir, "bad.json");
    for (const body of [
      "{",
      JSON.stringify({ format: "linkcrypt-verify", version: 1, plan: { inventoryDigest: "x" }, observedAt: "yesterday", entries: [] }),
      JSON.stringify({
        format: "linkcrypt-verify",
        version: 1,
        plan: { inventoryDigest: "x" },
        observedAt: new Date().toISOString(),
        entries: [{ kind: "link", name: 3 }],
      }),
    ]) {
      writeFileSync(bad, body);
      const r = await cli("report", "examples/three-site-mixed.yaml", "--verify", bad);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/verify/);
    }
    expect(() => readVerifyFile(bad, { name: "x", digest: "x" }, { now: new Date(), maxAgeHours: 1 })).toThrow(InputError);
  });

  it("metrics carry the evidence's collection time and age", async () => {
    const { file } = await threeSiteVerify(tmp());
    const r = await cli("metrics", "examples/three-site-mixed.yaml", "--verify", file);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^linkcrypt_verify_age_seconds\{inventory="three-site-mixed"\} (29\d|30\d)$/m);
    expect(r.out).toMatch(/^linkcrypt_verify_collected_timestamp_seconds\{inventory="three-site-mixed"\} \d{10}$/m);
  });
});

describe("report: the saved plan", () => {
  it("digests the --plan file's bytes, and refuses another inventory's plan", async () => {
    const dir = tmp();
    const planFile = join(dir, "plan.json");
    expect((await cli("plan", "examples/three-site-mixed.yaml", "--out", planFile)).code).toBe(0);
    const r = JSON.parse((await cli("report", "examples/three-site-mixed.yaml", "--plan", planFile, "--format", "json")).out);
    expect(r.provenance.plan.digest).toBe(createHash("sha256").update(readFileSync(planFile)).digest("hex"));
    expect(r.provenance.plan.source).toBe(`plan file ${planFile}`);
    const other = join(dir, "other.json");
    expect((await cli("plan", "examples/two-site-dwdm.yaml", "--out", other)).code).toBe(0);
    const bad = await cli("report", "examples/three-site-mixed.yaml", "--plan", other);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/is a plan for inventory "two-site-dwdm", not "three-site-mixed"/);
  });
});

describe("report: controls, evidence and exceptions", () => {
  it("without verify evidence, operation is 'not assessed' with why, and there is never a bare 'No findings'", async () => {
    const r = JSON.parse((await cli("report", "examples/three-site-mixed.yaml", "--format", "json")).out);
    expect(r.findings).toEqual([]);
    const op = r.controls.filter((c: { control: string }) => c.control === "in-operation");
    expect(op.map((c: { status: string }) => c.status)).toEqual(["not assessed", "not assessed", "not assessed", "not assessed"]);
    expect(op[0].why).toMatch(/no verify evidence/);
    expect(r.headline).toMatch(/0\/1 encrypted links and 0\/10 ESP pairs verified secured .*not assessed/);
    expect(r.headline).toMatch(/could not be assessed/);
    const md = (await cli("report", "examples/three-site-mixed.yaml")).out;
    expect(md).not.toMatch(/^No findings\.?$/m);
    expect(md).toMatch(/None among the controls assessed \(\d+ not assessed/);
    // Every framework has all five controls, each with a status and a reason.
    expect(new Set(r.controls.map((c: { standard: string }) => c.standard))).toEqual(
      new Set(["PCI DSS 4.0", "CNSA", "RFC 8221/8247", "BSI TR-02102-3"]),
    );
    for (const c of r.controls) expect(c.why.length).toBeGreaterThan(5);
  });

  it("with fresh evidence of a healthy network every control passes, with positive evidence per link and pair", async () => {
    const dir = tmp();
    const { file } = await threeSiteVerify(dir);
    const r = JSON.parse((await cli("report", "examples/three-site-mixed.yaml", "--verify", file, "--format", "json")).out);
    expect(
      r.controls
        .filter((c: { status: string }) => c.status !== "pass")
        .map((c: { standard: string; control: string; why: string }) => `${c.standard} ${c.control}: ${c.why}`),
    ).toEqual([]);
    const wave = r.links.find((l: { name: string }) => l.name === "lon1-par1-wave");
    expect(wave.status).toBe("secured");
    expect(wave.proof.join("\n")).toMatch(/lon1-enc1: encryptor status secure, AES-256-GCM, key age 1\.5 h, key generation 42/);
    expect(wave.keyAge.text).toBe("1.5 h");
    const pcs = r.meshes[0].pairClasses;
    expect(pcs.reduce((n: number, c: { verified: { secured: number } }) => n + c.verified.secured, 0)).toBe(10);
    const p = pcs[0].pairList[0];
    expect(p.spis).toMatch(/^c\d{7}\/d\d{7}$/);
    expect(p.lastTraffic).toMatch(/^\d+ s ago$/);
    expect(p.cipher).toBe("AES_GCM_16-256 (negotiated)");
    expect(p.offload).toMatch(/hw_offload=/);
    // The JSON carries all of it: provenance, controls, evidence, exceptions, findings and the topology.
    for (const k of ["provenance", "headline", "controls", "links", "meshes", "exceptions", "findings", "warnings"])
      expect(r).toHaveProperty(k);
    expect(r.provenance.verify.inventory).toBe("three-site-mixed");
    expect(r.topology.dot).toMatch(/^digraph topology \{/);
    expect(r.topology.mermaid).toMatch(/^```mermaid/);
  });

  it("an unverified or unsecured link is a finding that fails or leaves the operation control unassessed", async () => {
    const { file } = await threeSiteVerify(tmp(), (v) => {
      const e = v.entries.find((x) => x.name === "lon1-par1-wave")!;
      e.status = "unsecured";
      e.evidence = ["lon1-enc1 line: unsecured (encryptor status bypass)"];
    });
    const r = JSON.parse((await cli("report", "examples/three-site-mixed.yaml", "--verify", file, "--format", "json")).out);
    expect(
      r.findings.some(
        (f: { subject: string; control: string; severity: string }) =>
          f.subject === "link lon1-par1-wave" && f.control === "in-operation" && f.severity === "critical",
      ),
    ).toBe(true);
    expect(
      r.controls.filter((c: { control: string }) => c.control === "in-operation").every((c: { status: string }) => c.status === "fail"),
    ).toBe(true);
  });

  it("lists mesh clear exceptions (reason, who, when) and links the policy leaves in clear", async () => {
    const r = JSON.parse((await cli("plan", "examples/two-site-dwdm.yaml", "--json")).out);
    const recs = [{ hosts: ["ams1-app1", "fra1-db1"], reason: "charon crash loop, INC-4711", who: "alice", when: "2026-11-27T10:00:00Z" }];
    const ex = collectExceptions(r, "2026-11-28T00:00:00Z", recs);
    expect(ex[0]).toEqual({
      kind: "mesh-clear",
      subject: "mesh hosts ams1-app1, fra1-db1 in clear",
      reason: "charon crash loop, INC-4711",
      who: "alice",
      when: "2026-11-27T10:00:00Z",
    });
    expect(collectExceptions(r, "t", [{ hosts: [], reason: "", who: "", when: "" }])[0]!.reason).toBe("(no reason recorded)");
    const rep = buildReport(r, profiles(), { generatedAt: "2026-11-28T00:00:00Z", tool: TOOL, exceptions: recs });
    expect(reportMarkdown(rep)).toMatch(
      /\| mesh hosts ams1-app1, fra1-db1 in clear \| charon crash loop, INC-4711 \| alice \| 2026-11-27T10:00:00Z \|/,
    );
    expect(reportHtml(rep, "<svg></svg>")).toContain("charon crash loop, INC-4711");

    // The records a verify file carries reach the report.
    const { file } = await threeSiteVerify(tmp(), (v) => {
      (v as unknown as { exceptions: unknown[] }).exceptions = [
        { mode: "clear", mesh: "global", hosts: ["lon1-web1"], reason: "NIC firmware bug", who: "bob", when: "2026-11-28T01:02:03Z" },
      ];
    });
    const j = JSON.parse((await cli("report", "examples/three-site-mixed.yaml", "--verify", file, "--format", "json")).out);
    expect(j.exceptions).toContainEqual({
      kind: "mesh-clear",
      subject: "mesh hosts lon1-web1 in clear",
      reason: "NIC firmware bug",
      who: "bob",
      when: "2026-11-28T01:02:03Z",
    });
  });

  it("badges read in black and white: a word and a symbol each, and on paper none depends on a background", async () => {
    const { file } = await threeSiteVerify(tmp(), (v) => {
      v.entries.find((x) => x.name === "lon1-par1-wave")!.status = "unsecured";
    });
    const r = await cli("report", "examples/three-site-mixed.yaml", "--verify", file, "--format", "html");
    const badges = [...r.out.matchAll(/<span class="badge b-([a-z-]+)">([^<]*)<\/span>/g)].map((m) => [m[1], m[2]]);
    expect([...new Set(badges.map(([c]) => c))]).toEqual(expect.arrayContaining(["pass", "fail", "secured", "unsecured", "critical"]));
    for (const [c, text] of badges)
      expect(text, c).toMatch(
        /^(✔ PASS|✘ FAIL|\? NOT ASSESSED|✔ SECURED|✘ UNSECURED|\? NOT VERIFIED|\? UNKNOWN|CRITICAL|HIGH|MEDIUM|LOW)$/,
      );
    const print = /@media print\{([\s\S]*?)\n\}/.exec(r.out)![1]!;
    expect(print).toMatch(/print-color-adjust:exact/);
    expect(print).toMatch(/\.b-fail,\.b-unsecured,\.b-critical\{background:#fff;color:#000;border:2\.5px solid #000\}/);
  });

  it("the topology names devices and ports (Graphviz) and the Markdown carries it as Mermaid", async () => {
    const { file } = await threeSiteVerify(tmp());
    const r = JSON.parse((await cli("report", "examples/three-site-mixed.yaml", "--verify", file, "--format", "json")).out);
    const dot = topologyDot(r);
    for (const s of ["lon1-sw1", "Ethernet1/1", "lon1-enc1", "par1-enc1", "cluster", "site lon1", "mesh global"]) expect(dot).toContain(s);
    const mm = topologyMermaid(r);
    expect(mm).toMatch(/^```mermaid\nflowchart LR\n/);
    expect(mm).toMatch(/lon1-par1-wave: l1 AES-256-GCM, SECURED/);
    const md = (await cli("report", "examples/three-site-mixed.yaml", "--verify", file)).out;
    expect(md).toContain("```mermaid");
    expect(readFileSync(file, "utf8")).toContain("three-site-mixed");
  });
});
