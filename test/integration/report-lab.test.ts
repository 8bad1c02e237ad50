import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { labDown, readLab } from "../../src/lab/lab.js";
import { CHROMIUM_FLAGS, chromiumPath } from "../../src/report/pdf.js";
import { cli } from "../cli-run.js";

/**
 * The README's lab flow up to the reports, on real peers (netconfd switches, snmpd encryptors, four charons): the
 * HTML, PDF and Markdown reports carry provenance and evidence for every link and every pair class.
 */
const root = mkdtempSync(join(tmpdir(), "lc-report-lab-"));
chmodSync(root, 0o755); // the lab switches' sshd reads keys as the unprivileged lab user
const dir = join(root, "lab");
const inv = join(dir, "inventory.yaml");
const plan = join(root, "plan.json");
const verify = join(root, "verify.json");
const access = () => ["--known-hosts", join(dir, "known_hosts"), "--secrets", join(dir, "secrets.yaml")];
const state = ["--state-dir", join(root, "state")];
afterAll(async () => labDown(dir));

describe("report on the lab flow of the README", () => {
  it("lab up, plan, apply, verify", async () => {
    const up = await cli("lab", "up", "examples/lab-2site.yaml", "--dir", dir, "--name", "lc-report-lab");
    expect(up.code, up.out + up.err).toBe(0);
    expect((await cli("plan", inv, "--out", plan)).code).toBe(0);
    const a = await cli("apply", plan, "--inventory", inv, ...access(), ...state, "--lab", "--confirm-timeout", "30");
    expect(a.code, a.out + a.err).toBe(2);
    // Some traffic on every pair, so the evidence shows when each SA last carried a packet.
    const hosts = readLab(dir)!.hosts!;
    for (const a of hosts)
      for (const b of hosts)
        if (a.name < b.name) execFileSync("ip", ["netns", "exec", a.netns, "ping", "-c", "1", "-W", "2", b.address], { stdio: "ignore" });
    const v = await cli("verify", inv, ...access(), "--out", verify);
    expect(v.code).toBe(1); // the lab switches run no MKA: MACsec is "unknown"
    const vf = JSON.parse(readFileSync(verify, "utf8"));
    expect(vf.inventory).toBe("lab-2site (lab)");
    expect(vf.startedAt <= vf.observedAt).toBe(true);
  }, 120_000);

  it("Markdown: provenance, and evidence for every link and every pair class", async () => {
    const r = await cli("report", inv, "--verify", verify, "--plan", plan, ...state, "--format", "md");
    expect(r.code).toBe(1); // CNSA and BSI fail on the lab's curve25519 IKE proposal; MACsec not observed
    const md = r.out;
    expect(md).toMatch(/\| tool \| linkcrypt 0\.1\.0, commit [0-9a-f]{40}/);
    expect(md).toMatch(/\| inventory \| lab-2site \(lab\), sha256 sha256:[0-9a-f]{64} \|/);
    expect(md).toContain(`| plan | sha256 ${createHash("sha256").update(readFileSync(plan)).digest("hex")} (plan file ${plan}) |`);
    expect(md).toMatch(/\| plan applied \| \d{4}-\d\d-\d\dT\S+Z \(run [0-9a-f-]{36}\) \|/);
    expect(md).toMatch(/\| verify evidence \| .*verify\.json, sha256 [0-9a-f]{64}; inventory lab-2site \(lab\); collected \S+Z to \S+Z/);
    const json = JSON.parse((await cli("report", inv, "--verify", verify, "--plan", plan, ...state, "--format", "json")).out);
    for (const l of json.links) {
      expect(l.observedAt, l.name).toMatch(/Z$/);
      expect(l.ends, l.name).toHaveLength(2);
    }
    const l1 = json.links.find((l: { method: string }) => l.method === "l1");
    expect(l1.status).toBe("secured");
    for (const p of l1.proof) expect(p).toMatch(/encryptor status secure, AES-256-GCM, key age \d+ (s|min), key generation \d+/);
    const mac = json.links.find((l: { method: string }) => l.method === "macsec");
    expect(mac.keyAge.text).toMatch(/\(CAK\)$/);
    expect(mac.missing.length + mac.proof.length).toBeGreaterThan(0);
    for (const m of json.meshes)
      for (const c of m.pairClasses) {
        expect(c.verified.secured, c.id).toBe(c.pairs);
        for (const p of c.pairList) {
          expect(p.spis, p.name).toMatch(/^[0-9a-f]{8}\/[0-9a-f]{8}$/);
          expect(p.cipher, p.name).toMatch(/\(negotiated\)$/);
          expect(p.lastTraffic, p.name).toMatch(/^\d+ s ago$/);
          expect(p.offload, p.name).toMatch(/kernel-libipsec|hw_offload/);
          expect(p.observedAt, p.name).toMatch(/Z$/);
        }
      }
    expect(md).toContain("```mermaid");
  }, 60_000);

  it("HTML and PDF from the same evidence; another inventory refuses this verify file", async () => {
    const html = join(root, "report.html");
    const pdf = join(root, "report.pdf");
    for (const [f, out] of [
      ["html", html],
      ["pdf", pdf],
    ] as const)
      expect((await cli("report", inv, "--verify", verify, "--plan", plan, ...state, "--format", f, "--out", out)).code).toBe(1);
    const profile = mkdtempSync(join(tmpdir(), "lc-chromium-"));
    const dom = execFileSync(chromiumPath(), [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, "--dump-dom", `file://${html}`], {
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 90_000,
    }).toString();
    for (const id of ["provenance", "controls", "topology", "links", "meshes", "exceptions", "findings"])
      expect(dom).toContain(`<section id="${id}">`);
    for (const s of ["a1-sw", "et-0/0/0", "a1-enc", "b1-enc", "mesh app"]) expect(dom).toContain(s);
    const text = execFileSync("pdftotext", ["-layout", pdf, "-"]).toString();
    for (const s of ["Provenance", "Controls", "a1-b1-l1", "a1-b1-macsec", "Evidence, pc1", "(negotiated)"]) expect(text).toContain(s);
    // Screenshots of this report: the HTML, and the PDF's first page (LINKCRYPT_WRITE_DOCS=1 puts them in docs/).
    const png = join(root, "report-html.png");
    execFileSync(
      chromiumPath(),
      [...CHROMIUM_FLAGS, `--user-data-dir=${profile}-shot`, "--window-size=1280,2900", `--screenshot=${png}`, `file://${html}`],
      { stdio: "ignore", timeout: 90_000 },
    );
    execFileSync("pdftoppm", ["-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", pdf, join(root, "report-pdf-page1")]);
    for (const f of [png, join(root, "report-pdf-page1.png")]) expect(readFileSync(f).subarray(1, 4).toString()).toBe("PNG");
    if (process.env.LINKCRYPT_WRITE_DOCS === "1") {
      copyFileSync(png, "docs/report-html.png");
      copyFileSync(join(root, "report-pdf-page1.png"), "docs/report-pdf-page1.png");
    }
    const foreign = await cli("report", "examples/three-site-mixed.yaml", "--verify", verify);
    expect(foreign.code).toBe(1);
    expect(foreign.err).toMatch(/holds evidence from inventory "lab-2site \(lab\)", not "three-site-mixed"/);
  }, 120_000);
});
