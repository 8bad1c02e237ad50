import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseShowMacSecurityInterface } from "../../drivers/eos-macsec/parsers/show-mac-security-interface.js";
import { maskEosKeys, renderEosMacsec } from "../../drivers/eos-macsec/render.js";
import type { MacsecChange } from "../../drivers/contract.js";

describe("drivers: eos-macsec", () => {
  it("parses `show mac security interface detail | json` on a fixture shaped like the public samples (test/fixtures/eos/README.md)", () => {
    expect(parseShowMacSecurityInterface(readFileSync("test/fixtures/eos/show-mac-security-interface-detail.json", "utf8"))).toEqual([
      { name: "Ethernet1/1", secured: true, keyNum: 12, keyMsgId: "5d0c7e21a9b34f6e08c1d2a7", traffic: "Protected" },
      { name: "Ethernet2/1", secured: false, keyNum: 0, keyMsgId: undefined, traffic: undefined },
    ]);
  });
  it("reads only fields public samples show: profileName and cipher are ignored; an open port with unprotected traffic is not secured", () => {
    expect(parseShowMacSecurityInterface(readFileSync("test/fixtures/eos/show-mac-security-interface.json", "utf8"))).toEqual([
      { name: "Ethernet1/1", secured: true, keyNum: undefined, keyMsgId: undefined, traffic: undefined },
      { name: "Ethernet2/1", secured: false, keyNum: undefined, keyMsgId: undefined, traffic: undefined },
      { name: "Ethernet3/1", secured: undefined, keyNum: undefined, keyMsgId: undefined, traffic: undefined },
    ]);
    const open = JSON.stringify({ interfaces: { Ethernet1: { controlledPort: true, details: { traffic: "Unprotected" } } } });
    expect(parseShowMacSecurityInterface(open)[0]!.secured).toBe(false);
  });
  it("negates what the plan turns off: no sci, no mka session rekey-period, no replay protection window", () => {
    const off: MacsecChange = {
      kind: "macsec",
      policy: { name: "p", suite: "GCM-AES-128", includeSci: false, keyServerPriority: 16, sakRekeySeconds: 0, mustSecure: false },
      keychain: { name: "unused", ckn: "0a0b", cak: "aa", cryptoAlgorithm: "AES_128_CMAC" },
      interfaces: [{ name: "Ethernet1", replayWindow: 0 }],
    };
    const lines = renderEosMacsec(off);
    expect(lines).toContain("      no sci");
    expect(lines).toContain("      no mka session rekey-period");
    expect(lines).toContain("      no replay protection window");
    expect(lines).toContain("      traffic unprotected allow");
    const on = renderEosMacsec({
      ...off,
      policy: { ...off.policy, includeSci: true, sakRekeySeconds: 3600, mustSecure: true },
      interfaces: [{ name: "Ethernet1", replayWindow: 64 }],
    });
    expect(on.filter((l) => /^\s+no /.test(l))).toEqual([]);
  });
  it("says clearly when the reply is not JSON", () => {
    expect(() => parseShowMacSecurityInterface("% Invalid input")).toThrowError(/did not return JSON/);
  });
  it("renders the mac security profile and interface binding (golden), and masks keys", () => {
    const c: MacsecChange = {
      kind: "macsec",
      policy: {
        name: "dci-ams-fra",
        suite: "GCM-AES-XPN-256",
        includeSci: true,
        keyServerPriority: 10,
        sakRekeySeconds: 3600,
        mustSecure: true,
      },
      keychain: { name: "unused", ckn: "0a0b", cak: "c0ffee00c0ffee00c0ffee00c0ffee00", cryptoAlgorithm: "AES_128_CMAC" },
      interfaces: [{ name: "Ethernet1/1", replayWindow: 0 }],
    };
    const lines = renderEosMacsec(c);
    expect(`${lines.join("\n")}\n`).toBe(readFileSync("test/golden/eos-macsec.cli", "utf8"));
    expect(maskEosKeys(lines.join("\n"))).not.toContain("c0ffee00");
    expect(maskEosKeys("      key 0a0b 7 094F471A1A0A")).toBe("      key 0a0b 7 <secret>");
  });
  it("rotation: the next key is primary and the current one the fallback; retiring removes it with `no key`", () => {
    const c: MacsecChange = {
      kind: "macsec",
      policy: { name: "p", suite: "GCM-AES-XPN-256", includeSci: false, keyServerPriority: 10, sakRekeySeconds: 0, mustSecure: true },
      keychain: { name: "unused", ckn: "0a0b", cak: "aa", cryptoAlgorithm: "AES_256_CMAC", nextKey: { ckn: "0c0d", cak: "bb" } },
      interfaces: [{ name: "Ethernet1/1", replayWindow: 0 }],
    };
    expect(renderEosMacsec(c).filter((l) => /key /.test(l) && !/server/.test(l))).toEqual([
      "      key 0c0d 0 bb",
      "      key 0a0b 0 aa fallback",
    ]);
    const retired = renderEosMacsec({
      ...c,
      keychain: { name: "unused", ckn: "0c0d", cak: "bb", cryptoAlgorithm: "AES_256_CMAC", retireCkns: ["0a0b"] },
    });
    expect(retired.filter((l) => /key /.test(l) && !/server/.test(l))).toEqual(["      key 0c0d 0 bb", "      no key 0a0b"]);
  });
});
