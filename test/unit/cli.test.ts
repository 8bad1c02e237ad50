import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cli } from "../cli-run.js";

const tmp = mkdtempSync(join(tmpdir(), "linkcrypt-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("cli: mtu", () => {
  it("prints exactly {overheadBytes, maxInnerMtu, outerBytes} with --json", async () => {
    const r = await cli("mtu", "--path-mtu", "1500", "--cipher", "aes-gcm-128", "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ overheadBytes: 34, maxInnerMtu: 1466, outerBytes: null });
  });
  it("sizes an --inner packet: 1450 under AES-CBC with a 32-byte ICV is 1516 transport / 1532 tunnel", async () => {
    for (const [mode, want] of [
      ["transport", 1516],
      ["tunnel", 1532],
    ] as const) {
      const r = await cli("mtu", "--path-mtu", "1500", "--cipher", "aes-cbc-256-sha512", "--mode", mode, "--inner", "1450", "--json");
      expect(JSON.parse(r.out).outerBytes).toBe(want);
    }
  });
  it("accepts strongSwan names, IPv6, NAT-T and MACsec", async () => {
    const r = await cli(
      "mtu",
      "--path-mtu",
      "1500",
      "--cipher",
      "aes128gcm16",
      "--ip",
      "6",
      "--mode",
      "tunnel",
      "--nat-t",
      "--macsec",
      "sci",
      "--json",
    );
    // 1500 - 32 (MACsec) = 1468 for IPv6; 1468-40-8-8-8-16 = 1388 (mult of 4) -> inner 1386
    expect(JSON.parse(r.out)).toEqual({ overheadBytes: 114, maxInnerMtu: 1386, outerBytes: null });
  });
  it("without --cipher there is no ESP: MACsec only", async () => {
    const r = await cli("mtu", "--path-mtu", "1500", "--macsec", "nosci", "--json");
    expect(JSON.parse(r.out)).toEqual({ overheadBytes: 24, maxInnerMtu: 1476, outerBytes: null });
  });
  it.each([
    [["mtu", "--cipher", "aes-gcm-128"], /--path-mtu is required/],
    [["mtu", "--path-mtu", "15x0"], /whole number/],
    [["mtu", "--path-mtu", "1500", "--cipher", "des"], /unknown cipher "des"/],
    [["mtu", "--path-mtu", "1500", "--ip", "5"], /--ip must be 4 or 6/],
    [["mtu", "--path-mtu", "1500", "--nat-t"], /--nat-t describes ESP/],
    [["nosuchverb"], /unknown command/],
  ])("usage mistakes exit 64: %j", async (argv, msg) => {
    const r = await cli(...argv);
    expect(r.code).toBe(64);
    expect(r.err).toMatch(msg);
  });
});

describe("cli: validate and plan", () => {
  it("validate exits 0 on a good inventory and 1 with every problem listed on a bad one", async () => {
    expect((await cli("validate", "examples/two-site-dwdm.yaml")).code).toBe(0);
    const r = await cli("validate", "test/fixtures/bad/wrong-kinds.yaml", "--json");
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j.valid).toBe(false);
    expect(j.diagnostics.length).toBe(3);
  });
  it("plan --json carries version, links with name/method/cipher/reasons/mtu, diagnostics and meshes", async () => {
    const r = await cli("plan", "examples/three-site-mixed.yaml", "--json");
    expect(r.code).toBe(0);
    const p = JSON.parse(r.out);
    expect(p.version).toBe(1);
    for (const l of p.links) {
      expect(typeof l.name).toBe("string");
      expect(["l1", "macsec", "host-mesh", "none", "refused"]).toContain(l.method);
      expect(l).toHaveProperty("cipher");
      expect(Array.isArray(l.reasons) && l.reasons.every((x: unknown) => typeof x === "string")).toBe(true);
      expect(Number.isInteger(l.mtu.overheadBytes) && Number.isInteger(l.mtu.maxInnerMtu)).toBe(true);
    }
    for (const d of p.diagnostics) expect(Object.keys(d)).toEqual(expect.arrayContaining(["severity", "path", "message"]));
    expect(p.meshes[0].pairClasses.length).toBeGreaterThan(0);
  });
  it("plan exits 1 when the plan has errors, and --out saves the plan atomically", async () => {
    const out = join(tmp, "p.json");
    const r = await cli("plan", "test/fixtures/bad/refused-link.yaml", "--out", out);
    expect(r.code).toBe(1);
    expect(JSON.parse(readFileSync(out, "utf8")).summary.links.refused).toBe(1);
    expect(existsSync(`${out}.tmp-${process.pid}`)).toBe(false);
  });
  it("plan of a malformed file lists the problem and makes no plan", async () => {
    const out = join(tmp, "none.json");
    const r = await cli("plan", "test/fixtures/bad/malformed-yaml.yaml", "--out", out);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/not valid YAML/);
    expect(existsSync(out)).toBe(false);
  });
  it("the same input gives the same bytes", async () => {
    const a = await cli("plan", "examples/three-site-mixed.yaml", "--json");
    const b = await cli("plan", "examples/three-site-mixed.yaml", "--json");
    expect(a.out).toBe(b.out);
  });
  it("a changed inventory changes the inventory digest", async () => {
    const text = readFileSync("examples/two-site-dwdm.yaml", "utf8");
    const f = join(tmp, "changed.yaml");
    writeFileSync(f, text.replace("pathMtu: 9216", "pathMtu: 9200"));
    const a = JSON.parse((await cli("plan", "examples/two-site-dwdm.yaml", "--json")).out);
    const b = JSON.parse((await cli("plan", f, "--json")).out);
    expect(a.inputs.inventoryDigest).not.toBe(b.inputs.inventoryDigest);
    expect(a.inputs.profilesDigest).toBe(b.inputs.profilesDigest);
  });
  it("human output is a readable table", async () => {
    const r = await cli("plan", "examples/two-site-dwdm.yaml");
    expect(r.out).toMatch(/^link\s+medium\s+speed\s+method\s+cipher/m);
    expect(r.out).toMatch(/ams1-fra1-dwdm\s+dwdm\s+100G\s+macsec\s+GCM-AES-XPN-256\s+32\s+9170/);
  });
});

describe("cli: explain", () => {
  it("explains a link with every method considered", async () => {
    const r = await cli("explain", "examples/three-site-mixed.yaml", "lon1-nyc1-epl");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/macsec: not usable: the provider filters EAPOL/);
    expect(r.out).toMatch(/decision: host-mesh/);
  });
  it("explains a host pair with every cipher considered", async () => {
    const r = await cli("explain", "examples/two-site-dwdm.yaml", "fra1-db1", "ams1-app1");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ams1-app1 ~ fra1-db1 .*ams1-app1 initiates/m);
    expect(r.out).toMatch(/aes-gcm-256: offload score 2/);
    expect(r.out).toMatch(/aes-gcm-128: offload score 3\s+<- chosen/);
  });
  it("names an unknown target", async () => {
    const r = await cli("explain", "examples/two-site-dwdm.yaml", "nope");
    expect(r.code).toBe(64);
    expect(r.err).toMatch(/"nope" is not a link/);
  });
});

describe("cli: schema", () => {
  it("the published docs/inventory.schema.json is up to date (npm run schema)", async () => {
    const r = await cli("schema");
    expect(readFileSync("docs/inventory.schema.json", "utf8")).toBe(r.out);
  });
});

describe("cli: report and metrics with a bad --verify file", () => {
  it("names the file when it is not JSON, or not verify output, and writes nothing", async () => {
    const garbled = join(tmp, "garbled.json");
    writeFileSync(garbled, "{ not json");
    const other = join(tmp, "other.json");
    writeFileSync(other, JSON.stringify({ format: "linkcrypt-plan" }));
    const out = join(tmp, "r.html");
    const r1 = await cli("report", "examples/two-site-dwdm.yaml", "--verify", garbled, "--format", "html", "--out", out);
    expect(r1.code).toBe(1);
    expect(r1.err).toContain(`cannot read verify results ${garbled}`);
    expect(existsSync(out)).toBe(false);
    const r2 = await cli("metrics", "examples/two-site-dwdm.yaml", "--verify", other);
    expect(r2.code).toBe(1);
    expect(r2.err).toContain(`${other} is not the output of linkcrypt verify --out`);
    expect(r2.out).toBe("");
  });
});

describe("cli: errors under --json", () => {
  it("a refused input is JSON on stdout too (exit 1); a usage error is E_USAGE (exit 64)", async () => {
    const bad = join(tmp, "not-a-plan.json");
    writeFileSync(bad, JSON.stringify({ format: "something-else" }));
    const r = await cli("apply", bad, "--inventory", "examples/two-site-dwdm.yaml", "--json");
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toEqual({ error: { code: "E_INPUT", message: expect.stringContaining(`${bad} is not a linkcrypt plan`) } });
    expect(r.err).toContain("is not a linkcrypt plan");
    const u = await cli("mtu", "--path-mtu", "abc", "--json");
    expect(u.code).toBe(64);
    expect(JSON.parse(u.out).error.code).toBe("E_USAGE");
  });
});
