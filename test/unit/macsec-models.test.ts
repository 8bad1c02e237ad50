import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { MacsecChange } from "../../drivers/contract.js";
import type { MacsecSuiteId } from "../../src/crypto/macsec-suites.js";
import { UnsupportedError } from "../../src/errors.js";
import { labDeviations, MODELS_DIR, prepareLabModels } from "../../src/lab/lab-models.js";
import { renderEosMacsec } from "../../drivers/eos-macsec/render.js";
import { renderJunosMacsec, type JunosFamily } from "../../drivers/junos-macsec/render.js";
import { openconfigDialect, renderOpenconfigMacsec, type OpenconfigDialect } from "../../drivers/openconfig-macsec/render.js";

/**
 * Every MACsec payload a driver can send, as golden files (test/golden/macsec/), validated with yanglint (Debian
 * libyang-tools) against the vendors' published models vendored in src/lab/models (PROVENANCE.md): as edit-config
 * content (`-t edit`) and as the datastore that results (`-t config`, which also resolves leafrefs and mandatory
 * nodes). Cases: each suite with and without the SCI (steady state), and both rotation steps, per dialect
 * (openconfig-macsec 1.2.0 / 1.1.1 with openconfig-keychain 0.5.0 / 0.4.0; Junos `junos` 24.4R1 and `junos-ex`
 * 23.4R1). EOS has no published model: its golden CLI is compared only. LINKCRYPT_UPDATE_GOLDEN=1 rewrites the files.
 */
const GOLDEN = "test/golden/macsec";
const UPDATE = process.env.LINKCRYPT_UPDATE_GOLDEN === "1";
const NC = "urn:ietf:params:xml:ns:netconf:base:1.0";
const IETF_NETCONF = "/usr/share/yuma/modules/ietf/ietf-netconf@2011-06-01.yang";
const M = MODELS_DIR;
const OC = join(M, "openconfig");

const SUITES: MacsecSuiteId[] = ["GCM-AES-128", "GCM-AES-256", "GCM-AES-XPN-128", "GCM-AES-XPN-256"];
const hex = (byte: string, bytes: number) => byte.repeat(bytes);
const bits = (s: MacsecSuiteId) => (/256/.test(s) ? 256 : 128);

/** A link's change; `sci` also switches the other optional settings, so both rendering paths of each are covered. */
function change(
  suite: MacsecSuiteId,
  sci: boolean,
  iface: string,
  step: "steady" | "rotate-install" | "rotate-retire" = "steady",
): MacsecChange {
  const kb = bits(suite) / 8;
  const old = { ckn: hex("a1", 32), cak: hex("0f", kb) };
  const next = { ckn: hex("b2", 32), cak: hex("2d", kb) };
  const keychain = { name: "lc-dc1-dc2", cryptoAlgorithm: bits(suite) === 256 ? ("AES_256_CMAC" as const) : ("AES_128_CMAC" as const) };
  return {
    kind: "macsec",
    policy: { name: "lc-dc1-dc2", suite, includeSci: sci, keyServerPriority: 16, sakRekeySeconds: sci ? 3600 : 0, mustSecure: sci },
    keychain:
      step === "steady"
        ? { ...keychain, ...old }
        : step === "rotate-install"
          ? { ...keychain, ...old, nextKey: next }
          : { ...keychain, ...next, retireCkns: [old.ckn] },
    interfaces: [{ name: iface, replayWindow: sci ? 64 : 0 }],
  };
}

interface Case {
  file: string;
  payload: () => string;
  /** yanglint module files for the edit and for the datastore; none for EOS. */
  validate?: { edit: string[]; config: string[]; paths: string[]; toYang(payload: string): string; datastoreExtra: string };
}

const OC_LATEST = [
  join(OC, "openconfig-keychain-types.yang"),
  join(OC, "openconfig-macsec-types.yang"),
  join(OC, "openconfig-keychain.yang"),
  join(OC, "openconfig-macsec.yang"),
];
const ocFiles = (macsec: "1.2.0" | "1.1.1", keychain: "0.5.0" | "0.4.0") => [
  join(OC, "openconfig-keychain-types.yang"),
  join(OC, "openconfig-macsec-types.yang"),
  keychain === "0.5.0" ? join(OC, "openconfig-keychain.yang") : join(M, "openconfig-keychain-0.4.0", "openconfig-keychain.yang"),
  macsec === "1.2.0" ? join(OC, "openconfig-macsec.yang") : join(M, "openconfig-macsec-1.1.1", "openconfig-macsec.yang"),
];
const ocPort = (name: string) =>
  `<interfaces xmlns="http://openconfig.net/yang/interfaces"><interface><name>${name}</name><config><name>${name}</name>` +
  '<type xmlns:ianaift="urn:ietf:params:xml:ns:yang:iana-if-type">ianaift:ethernetCsmacd</type></config></interface></interfaces>';

/** The <config> children with the nc prefix declared on each, as yanglint reads edit-config content. */
function ocToYang(payload: string): string {
  return payload
    .replace(/^<config [^>]*>/, "")
    .replace(/<\/config>$/, "")
    .replace(/<(keychains|macsec) xmlns="([^"]*)">/g, `<$1 xmlns="$2" xmlns:nc="${NC}">`);
}

/** Junos: the xnm namespace a device takes, mapped to the YANG modules' namespaces of the family. */
function junosToYang(family: JunosFamily) {
  return (payload: string) =>
    payload
      .replace(/^<config [^>]*>/, "")
      .replace(/<\/config>$/, "")
      .replace(
        '<configuration xmlns="http://xml.juniper.net/xnm/1.1/xnm">',
        `<configuration xmlns="http://yang.juniper.net/${family}/conf/root" xmlns:nc="${NC}">`,
      )
      .replace("<security>", `<security xmlns="http://yang.juniper.net/${family}/conf/security">`);
}
const JUNOS = [join(M, "junos-24.4R1", "junos-conf-root@2024-01-01.yang"), join(M, "junos-24.4R1", "junos-conf-security@2024-01-01.yang")];
const JUNOS_EX = [
  join(M, "junos-ex-23.4R1", "junos-ex-conf-root@2023-01-01.yang"),
  join(M, "junos-ex-23.4R1", "junos-ex-conf-security@2023-01-01.yang"),
];

const dialects: { id: string; macsec: "1.2.0" | "1.1.1"; keychain: "0.5.0" | "0.4.0"; d: OpenconfigDialect }[] = [
  { id: "oc-1.2.0-kc-0.5.0", macsec: "1.2.0", keychain: "0.5.0", d: { macsecRevision: "2025-01-02", keychainRevision: "2024-05-30" } },
  { id: "oc-1.2.0-kc-0.4.0", macsec: "1.2.0", keychain: "0.4.0", d: { macsecRevision: "2025-01-02", keychainRevision: "2022-11-05" } },
  { id: "oc-1.1.1-kc-0.5.0", macsec: "1.1.1", keychain: "0.5.0", d: { macsecRevision: "2023-08-03", keychainRevision: "2024-05-30" } },
  { id: "oc-1.1.1-kc-0.4.0", macsec: "1.1.1", keychain: "0.4.0", d: { macsecRevision: "2023-08-03", keychainRevision: "2022-11-05" } },
];

const cases: Case[] = [];
const variants = (sciAllowed: boolean, suites = SUITES) => [
  ...suites.flatMap((s) =>
    [true, false]
      .filter((sci) => sciAllowed || !sci)
      .map((sci) => ({ name: `${s.toLowerCase()}-${sci ? "sci" : "nosci"}`, suite: s, sci, step: "steady" as const })),
  ),
  ...(["rotate-install", "rotate-retire"] as const).map((step) => ({ name: step, suite: suites.at(-1)!, sci: sciAllowed, step })),
];
for (const dl of dialects) {
  const files = ocFiles(dl.macsec, dl.keychain);
  for (const v of variants(dl.macsec === "1.2.0"))
    cases.push({
      file: `openconfig/${dl.id}/${v.name}.xml`,
      payload: () => renderOpenconfigMacsec(change(v.suite, v.sci, "Ethernet1", v.step), undefined, dl.d),
      validate: {
        edit: [...files, IETF_NETCONF],
        config: [...files, join(OC, "openconfig-interfaces.yang"), join(OC, "iana-if-type.yang")],
        paths: [OC],
        toYang: ocToYang,
        datastoreExtra: ocPort("Ethernet1"),
      },
    });
}
for (const v of variants(true))
  cases.push({
    file: `junos/junos-24.4R1/${v.name}.xml`,
    payload: () => renderJunosMacsec(change(v.suite, v.sci, "et-0/0/1", v.step)),
    validate: {
      edit: [...JUNOS, IETF_NETCONF],
      config: JUNOS,
      paths: [join(M, "junos-24.4R1")],
      toYang: junosToYang("junos"),
      datastoreExtra: "",
    },
  });
for (const v of variants(true, ["GCM-AES-128"]))
  cases.push({
    file: `junos/junos-ex-23.4R1/${v.name}.xml`,
    payload: () => renderJunosMacsec(change(v.suite, v.sci, "ge-0/0/1", v.step), undefined, "junos-ex"),
    validate: {
      edit: [...JUNOS_EX, IETF_NETCONF],
      config: JUNOS_EX,
      paths: [join(M, "junos-ex-23.4R1")],
      toYang: junosToYang("junos-ex"),
      datastoreExtra: "",
    },
  });
for (const v of variants(true))
  cases.push({ file: `eos/${v.name}.cli`, payload: () => `${renderEosMacsec(change(v.suite, v.sci, "Ethernet1", v.step)).join("\n")}\n` });

/** The datastore after the edit (starting empty, or from the previous step, which it replaces): operations applied. */
function resultingDatastore(yangEdit: string): string {
  return yangEdit.replace(/<key nc:operation="remove">.*?<\/key>/g, "").replace(/ nc:operation="replace"/g, "");
}

const work = mkdtempSync(join(tmpdir(), "linkcrypt-yanglint-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
function yanglint(type: "edit" | "config", modules: string[], paths: string[], xml: string): { ok: boolean; out: string } {
  const f = join(work, `d${n++}.xml`);
  writeFileSync(f, xml);
  try {
    execFileSync("yanglint", [...paths.flatMap((p) => ["-p", p]), "-t", type, ...modules, f], { stdio: ["ignore", "pipe", "pipe"] });
    return { ok: true, out: "" };
  } catch (e) {
    const x = e as { stdout?: Buffer; stderr?: Buffer; message: string };
    return { ok: false, out: `${x.stderr?.toString() ?? ""}${x.stdout?.toString() ?? ""}` || x.message };
  }
}

describe("MACsec payloads against the vendors' published models", () => {
  it("yanglint and ietf-netconf are installed (test/lab/ensure-peers.sh installs libyang-tools and netconfd)", () => {
    expect(() => execFileSync("yanglint", ["--version"], { stdio: "pipe" })).not.toThrow();
    expect(existsSync(IETF_NETCONF)).toBe(true);
  });

  it("the vendored models are unmodified (SHA256SUMS)", () => {
    const sums = readFileSync(join(M, "SHA256SUMS"), "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split(/\s+/) as [string, string]);
    expect(sums.length).toBeGreaterThan(15);
    for (const [sum, file] of sums)
      expect(
        createHash("sha256")
          .update(readFileSync(join(M, file)))
          .digest("hex"),
        file,
      ).toBe(sum);
    const listed = new Set(sums.map(([, f]) => f));
    for (const dir of readdirSync(M, { withFileTypes: true }).filter((d) => d.isDirectory()))
      for (const f of readdirSync(join(M, dir.name)).filter((x) => x.endsWith(".yang")))
        expect(listed.has(`${dir.name}/${f}`), `${dir.name}/${f} is in SHA256SUMS`).toBe(true);
  });

  it("every golden file is exactly what the renderers produce (no stale or extra goldens)", () => {
    const on = (d: string): string[] =>
      existsSync(d)
        ? readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? on(join(d, e.name)) : [join(d, e.name)]))
        : [];
    for (const c of cases) {
      const path = join(GOLDEN, c.file);
      const text = c.validate ? `${c.payload()}\n` : c.payload();
      if (UPDATE) {
        mkdirSync(join(path, ".."), { recursive: true });
        writeFileSync(path, text);
      }
      expect(existsSync(path), `${path} exists (LINKCRYPT_UPDATE_GOLDEN=1 writes it)`).toBe(true);
      expect(readFileSync(path, "utf8"), path).toBe(text);
    }
    expect(
      on(GOLDEN)
        .filter((f) => !f.endsWith(".md"))
        .sort(),
    ).toEqual(cases.map((c) => join(GOLDEN, c.file)).sort());
  });

  for (const c of cases.filter((x) => x.validate)) {
    it(`${c.file}: valid as edit-config content and as the resulting datastore`, () => {
      const v = c.validate!;
      const edit = v.toYang(readFileSync(join(GOLDEN, c.file), "utf8").trim());
      const e = yanglint("edit", v.edit, v.paths, edit);
      expect(e.ok, e.out).toBe(true);
      const d = yanglint("config", v.config, v.paths, resultingDatastore(edit) + v.datastoreExtra);
      expect(d.ok, d.out).toBe(true);
    });
  }
});

describe("the check catches what the real models reject (so it can fail)", () => {
  const latest = cases.find((c) => c.file === "openconfig/oc-1.2.0-kc-0.5.0/rotate-install.xml")!;
  const edit = () => ocToYang(latest.payload());
  const lint = (xml: string, files = [...OC_LATEST, IETF_NETCONF]) => yanglint("edit", files, [OC], xml);
  it("a bare-hex key-id (what the driver sent before) fails against openconfig-keychain 0.5.0", () => {
    const r = lint(edit().replace(/<key-id>0x/g, "<key-id>"));
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(/key-id|union/);
  });
  it("an unprefixed crypto-algorithm identity fails", () => {
    const r = lint(edit().replace(/<crypto-algorithm [^>]*>oc-kc-types:/g, "<crypto-algorithm>"));
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(/identityref|identity/);
  });
  it("include-sci fails against openconfig-macsec 1.1.1, and a 0x key-id against openconfig-keychain 0.4.0", () => {
    expect(lint(edit(), [...ocFiles("1.1.1", "0.5.0"), IETF_NETCONF]).out).toMatch(/include-sci/);
    expect(lint(edit(), [...ocFiles("1.2.0", "0.4.0"), IETF_NETCONF]).out).toMatch(/key-id|union|pattern/);
  });
  it("cipher-suite fails against the junos-ex 23.4R1 schema; a dangling interface fails the OpenConfig datastore", () => {
    const junos = junosToYang("junos-ex")(renderJunosMacsec(change("GCM-AES-128", true, "ge-0/0/1")));
    expect(yanglint("edit", [...JUNOS_EX, IETF_NETCONF], [join(M, "junos-ex-23.4R1")], junos).out).toMatch(/cipher-suite/);
    const ds = yanglint(
      "config",
      [...OC_LATEST, join(OC, "openconfig-interfaces.yang"), join(OC, "iana-if-type.yang")],
      [OC],
      resultingDatastore(edit()),
    );
    expect(ds.ok).toBe(false);
    expect(ds.out).toMatch(/leafref|Invalid|required/i);
  });
});

describe("a feature the device lacks is refused, never rendered", () => {
  it("SCI on openconfig-macsec 1.1.1", () => {
    expect(() => renderOpenconfigMacsec(change("GCM-AES-XPN-256", true, "Ethernet1"), undefined, dialects[2]!.d)).toThrowError(
      UnsupportedError,
    );
    expect(() => renderOpenconfigMacsec(change("GCM-AES-XPN-256", true, "Ethernet1"), undefined, dialects[2]!.d)).toThrowError(
      /include-sci.*1\.2\.0/,
    );
  });
  it("a 32-byte CKN on openconfig-keychain 0.3.0 (uint64 key-id only); a short one goes as its decimal value", () => {
    const d = { macsecRevision: "2025-01-02", keychainRevision: "2022-03-05" };
    expect(() => renderOpenconfigMacsec(change("GCM-AES-128", true, "Ethernet1"), undefined, d)).toThrowError(/uint64/);
    const short = change("GCM-AES-128", true, "Ethernet1");
    expect(renderOpenconfigMacsec({ ...short, keychain: { ...short.keychain, ckn: "0a0b" } }, undefined, d)).toContain(
      "<key-id>2571</key-id>",
    );
  });
  it("a 256-bit (or any non-default) suite on a Junos EX platform", () => {
    for (const s of ["GCM-AES-256", "GCM-AES-XPN-128", "GCM-AES-XPN-256"] as const)
      expect(() => renderJunosMacsec(change(s, true, "ge-0/0/1"), undefined, "junos-ex")).toThrowError(/EX/);
  });
  it("the dialect comes from the hello's module capabilities; unannounced modules count as the newest release", () => {
    const caps = [
      "urn:ietf:params:netconf:base:1.1",
      "http://openconfig.net/yang/macsec?module=openconfig-macsec&revision=2023-08-03",
      "http://openconfig.net/yang/oc-keychain?module=openconfig-keychain&revision=2022-11-05",
    ];
    expect(openconfigDialect(caps)).toEqual({
      macsecRevision: "2023-08-03",
      keychainRevision: "2022-11-05",
      announced: { macsec: true, keychain: true },
    });
    expect(openconfigDialect(caps.slice(0, 1))).toEqual({
      macsecRevision: "2025-01-02",
      keychainRevision: "2024-05-30",
      announced: { macsec: false, keychain: false },
    });
  });
});

describe("the lab serves the real models with only the documented deviations", () => {
  it("the patched openconfig-macsec differs from the vendored one by the deviation alone, and the derived Junos module takes the as-sent payloads", () => {
    const dir = join(work, "lab");
    const { modules } = prepareLabModels(dir);
    expect(modules).toEqual([
      "openconfig-keychain-types",
      "openconfig-keychain",
      "openconfig-macsec-types",
      "openconfig-macsec",
      "junos-conf-lab",
    ]);
    const dev = labDeviations();
    const orig = readFileSync(join(OC, "openconfig-macsec.yang"), "utf8");
    const p = dev.patches[0]!;
    expect(readFileSync(join(dir, "openconfig-macsec.yang"), "utf8")).toBe(orig.split(p.replace).join(p.with));
    for (const f of readdirSync(OC).filter((x) => x !== "openconfig-macsec.yang"))
      expect(readFileSync(join(dir, f), "utf8"), f).toBe(readFileSync(join(OC, f), "utf8"));
    // The Junos payload exactly as sent (xnm namespace) against the derived module: what a Junos device would take.
    for (const c of cases.filter((x) => x.file.startsWith("junos/junos-24.4R1/"))) {
      const asSent = readFileSync(join(GOLDEN, c.file), "utf8")
        .trim()
        .replace(/^<config [^>]*>/, "")
        .replace(/<\/config>$/, "")
        .replace(
          '<configuration xmlns="http://xml.juniper.net/xnm/1.1/xnm">',
          `<configuration xmlns="http://xml.juniper.net/xnm/1.1/xnm" xmlns:nc="${NC}">`,
        );
      const r = yanglint("edit", [join(dir, "junos-conf-lab.yang"), IETF_NETCONF], [dir], asSent);
      expect(r.ok, `${c.file}: ${r.out}`).toBe(true);
    }
  });
});
