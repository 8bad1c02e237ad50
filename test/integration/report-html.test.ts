import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "../cli-run.js";

const CHROMIUM = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"];

describe("report: HTML in a real browser (headless Chromium)", () => {
  it("renders the topology, link table and findings, and screenshots", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-report-"));
    const html = join(dir, "report.html");
    const r = await cli("report", "examples/three-site-mixed.yaml", "--format", "html", "--out", html);
    expect(r.code).toBe(0);
    const profile = mkdtempSync(join(tmpdir(), "lc-chromium-"));
    const dom = execFileSync("chromium", [...CHROMIUM, `--user-data-dir=${profile}`, "--dump-dom", `file://${html}`], { stdio: ["ignore", "pipe", "ignore"], timeout: 60_000 }).toString();
    for (const s of ["lon1-par1-wave", "par1-nyc1-inet", "AES-256-GCM", "FIPS 140-3 Level 3", "No findings.", "<svg"]) expect(dom).toContain(s);
    const png = join(dir, "report.png");
    execFileSync("chromium", [...CHROMIUM, `--user-data-dir=${profile}`, "--window-size=1280,1100", `--screenshot=${png}`, `file://${html}`], { stdio: "ignore", timeout: 60_000 });
    expect(statSync(png).size).toBeGreaterThan(20_000);
    expect(readFileSync(png).subarray(1, 4).toString()).toBe("PNG");
  });
});
