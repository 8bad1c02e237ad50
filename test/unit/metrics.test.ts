import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { collectSamples, graphiteText, prometheusText } from "../../src/metrics/metrics.js";
import type { VerifyReport } from "../../src/verify/verify.js";
import { plan } from "../helpers.js";

describe("metrics", () => {
  const p = plan(readFileSync("examples/three-site-mixed.yaml", "utf8"));
  const verify: VerifyReport = {
    format: "linkcrypt-verify",
    version: 1,
    plan: p.inputs,
    observedAt: "2026-01-01T00:00:00Z",
    entries: [
      { kind: "link", name: "lon1-par1-wave", method: "l1", status: "secured", evidence: [], keyAgeSeconds: 1234, observedAt: "x" },
      { kind: "pair", name: "global:lon1-db1~lon1-web1", method: "host-mesh", status: "degraded", evidence: [], observedAt: "x" },
    ],
    hosts: [
      { mesh: "global", host: "lon1-db1", ikeSas: 4, childSas: 3, halfOpen: 1, xfrmDeltas: [{ counter: "XfrmInNoStates", delta: 7 }] },
    ],
  };
  it("Prometheus text: HELP/TYPE once per metric, every sample line well-formed, values from verify", () => {
    const text = prometheusText(collectSamples(p, verify));
    for (const line of text.trim().split("\n")) expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+\{(\w+="[^"]*",?)+\} -?\d+(\.\d+)?)$/);
    expect(text.match(/^# TYPE linkcrypt_link_status gauge$/gm)).toHaveLength(1);
    expect(text).toContain('linkcrypt_link_status{link="lon1-par1-wave",method="l1",status="secured"} 1');
    expect(text).toContain('linkcrypt_key_age_seconds{key="lon1-par1-wave",kind="l1"} 1234');
    expect(text).toContain('linkcrypt_mesh_pairs{mesh="global",status="degraded"} 1');
    expect(text).toContain('linkcrypt_mesh_child_sas{mesh="global",host="lon1-db1"} 3');
    expect(text).toContain('linkcrypt_xfrm_errors{mesh="global",host="lon1-db1",counter="XfrmInNoStates"} 7');
  });
  it("Graphite plaintext keeps the prefix's dots and makes labels safe", () => {
    const text = graphiteText(collectSamples(p, verify), "linkcrypt.three-site", 1700000000);
    expect(text).toContain("linkcrypt.three-site.link_status.lon1-par1-wave.l1.secured 1 1700000000");
  });
});
