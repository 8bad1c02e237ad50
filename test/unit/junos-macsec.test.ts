import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseShowSecurityMkaSessions } from "../../drivers/junos-macsec/parsers/show-security-mka-sessions.js";
import { renderJunosMacsec } from "../../drivers/junos-macsec/render.js";
import { renderOpenconfigMacsec } from "../../drivers/openconfig-macsec/render.js";
import type { MacsecChange } from "../../drivers/contract.js";

const change: MacsecChange = {
  kind: "macsec",
  policy: {
    name: "CA-ams-fra",
    suite: "GCM-AES-XPN-256",
    includeSci: true,
    keyServerPriority: 16,
    sakRekeySeconds: 3600,
    mustSecure: true,
  },
  keychain: {
    name: "kc-ams-fra",
    ckn: "0a0b",
    cak: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    cryptoAlgorithm: "AES_256_CMAC",
  },
  interfaces: [{ name: "et-0/0/0", replayWindow: 64 }],
};

describe("drivers: junos-macsec", () => {
  it("parses the detailed session form (fixture in the documented field layout; not a device capture)", () => {
    const s = parseShowSecurityMkaSessions(readFileSync("test/fixtures/junos/show-security-mka-sessions-detail.txt", "utf8"));
    expect(s).toEqual([
      { interface: "xe-0/0/1", state: "Secured", keyServer: true, cipher: "GCM-AES-XPN-256" },
      { interface: "xe-0/0/2", state: "Unsecured", keyServer: false, cipher: undefined },
    ]);
  });
  it("parses a summary table row by interface name and state word", () => {
    const s = parseShowSecurityMkaSessions(
      "  Interface    Member-ID                 Type     Status\n  et-0/0/0     ABCDEF0123456789ABCDEF01  primary  Secured-Suspended\n",
    );
    expect(s).toEqual([{ interface: "et-0/0/0", state: "Secured-Suspended", keyServer: undefined, cipher: undefined }]);
  });
});

describe("render: golden payloads", () => {
  it("Junos: connectivity-association with static CAK, XPN suite, SCI and replay window, bound to the interface", () => {
    expect(renderJunosMacsec(change)).toBe(readFileSync("test/golden/junos-macsec.xml", "utf8").trim());
  });
  it("OpenConfig: key chain, MKA policy and interface binding", () => {
    expect(renderOpenconfigMacsec(change)).toBe(readFileSync("test/golden/openconfig-macsec.xml", "utf8").trim());
  });
  it("Junos rotation: the next key becomes the pre-shared key and the current one the fallback-key; retiring drops it", () => {
    const next = { ckn: "0c0d", cak: "ff".repeat(32) };
    const during = renderJunosMacsec({ ...change, keychain: { ...change.keychain, nextKey: next } });
    expect(during).toContain("<pre-shared-key><ckn>0c0d</ckn>");
    expect(during).toContain("<fallback-key><ckn>0a0b</ckn>");
    const after = renderJunosMacsec({ ...change, keychain: { ...change.keychain, ...next, retireCkns: ["0a0b"] } });
    expect(after).toContain("<pre-shared-key><ckn>0c0d</ckn>");
    expect(after).not.toContain("0a0b");
    expect(after).toContain('<connectivity-association nc:operation="replace">');
  });
});

describe("Junos platform family", () => {
  it("maps product models to Juniper's schema families; EX leaves cipher-suite out and takes GCM-AES-128 only", async () => {
    const { junosFamily, junosRefusal } = await import("../../drivers/junos-macsec/render.js");
    expect(["ex4400-48f", "EX4300-48MP", "qfx5120-48ym", "srx345", "mx304", "ptx10001-36mr", undefined].map((m) => junosFamily(m))).toEqual(
      ["junos-ex", "junos-ex", "junos-qfx", "junos-es", "junos", "junos", "junos"],
    );
    const ex = renderJunosMacsec({ ...change, policy: { ...change.policy, suite: "GCM-AES-128" } }, undefined, "junos-ex");
    expect(ex).not.toContain("cipher-suite");
    expect(junosRefusal(change, "junos-ex")).toMatch(/GCM-AES-XPN-256 cannot be set on a Junos EX platform/);
    expect(junosRefusal(change, "junos-qfx")).toBeUndefined();
  });
});

describe("show security mka sessions: wording that must not read as secured", () => {
  it("'Secured - Primary' is Secured; 'Not Secured' and unknown wordings are unknown", () => {
    const block = (st: string) =>
      `Interface name: et-0/0/1\n  Member identifier: 0123456789ABCDEF01234567\n  CAK name: A1A1\n  Interface state: ${st}\n  Key server: no\n`;
    expect(parseShowSecurityMkaSessions(block("Secured - Primary"))[0]!.state).toBe("Secured");
    expect(parseShowSecurityMkaSessions(block("Not Secured"))[0]!.state).toBe("unknown");
    expect(parseShowSecurityMkaSessions(block("Initializing (secured soon)"))[0]!.state).toBe("unknown");
    expect(parseShowSecurityMkaSessions(block("Unsecured"))[0]!.state).toBe("Unsecured");
    expect(parseShowSecurityMkaSessions("Interface name: et-0/0/2\n  the session is Not Secured yet\n")[0]!.state).toBe("unknown");
  });
});
