import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { create as createEos } from "../../../drivers/eos-macsec/index.js";
import { parseShowMacSecurityInterface } from "../../../drivers/eos-macsec/parsers/show-mac-security-interface.js";
import { parseShowSecurityMkaSessions } from "../../../drivers/junos-macsec/parsers/show-security-mka-sessions.js";
import { parseHostFacts } from "../../../drivers/linux-host/index.js";
import { parseEthtoolFeatures, parseEthtoolInfo } from "../../../drivers/linux-host/parsers/ethtool.js";
import { parseCpuinfo } from "../../../drivers/linux-host/parsers/proc-cpuinfo.js";
import { parseProcCrypto } from "../../../drivers/linux-host/parsers/proc-crypto.js";
import { parseStrongswanVersion } from "../../../drivers/linux-host/parsers/strongswan-version.js";
import { parseXfrmStat } from "../../../drivers/linux-host/parsers/xfrm-stat.js";
import { parseInterfaceStatus, readOpenconfigEvidence } from "../../../drivers/openconfig-macsec/index.js";
import { ProtocolError } from "../../../src/errors.js";
import { saTableFromVici } from "../../../src/mesh/sa-table.js";
import { parseXfrmStateSpis } from "../../../drivers/linux-host/parsers/xfrm-state.js";
import { parseXml } from "../../../src/transport/netconf/xml.js";
import { decodeMessage, encodeMessage, type ViciMessage } from "../../../src/transport/vici.js";
import { fuzz, fuzzAsync, nastyString, returnsOrTyped, settlesOrTyped } from "./fuzz.js";

/** A fake SSH connection for the EOS driver: every CLI script answers `stdout`. */
const eosWith = (answer: (script: string[]) => string) =>
  createEos({
    device: "eos1",
    profile: {},
    ssh: async () => ({ shellScript: async (lines: string[]) => ({ stdout: answer(lines), stderr: "" }) }) as never,
    snmp: () => {
      throw new Error("no snmp");
    },
    commandTimeoutMs: 1000,
    now: () => new Date(0),
  });

describe("fuzz findings: driver parsers", () => {
  it("P-1: a /proc/crypto entry named toString, constructor or __proto__ is just a name", () => {
    const text = ["toString", "constructor", "__proto__", "hasOwnProperty"]
      .map((n) => `name         : ${n}\ndriver       : ${n}-generic\n`)
      .join("\n");
    const out = parseProcCrypto(text);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    for (const n of ["toString", "constructor", "__proto__", "hasOwnProperty"])
      expect(Object.getOwnPropertyDescriptor(out, n)?.value).toEqual([`${n}-generic`]);
    expect(JSON.parse(JSON.stringify(out)).toString).toEqual(["toString-generic"]);
  });

  it("P-2: Junos MKA text ending in `Interface name:` parses (no session for it)", () => {
    expect(parseShowSecurityMkaSessions("Interface name:")).toEqual([]);
    expect(parseShowSecurityMkaSessions("  Interface name: xe-0/0/1\n  Status: Secured\n  Interface name:\n")).toEqual([
      { interface: "xe-0/0/1", state: "Secured", keyServer: undefined, cipher: undefined },
    ]);
  });

  it("P-3: EOS `show version | json` answering null (or an array, or a number) is a ProtocolError from facts()", async () => {
    for (const v of ["null", "[]", "7", '"x"']) {
      const d = eosWith((lines) => (lines.some((l) => l.startsWith("show version")) ? v : '{"interfaces": {}}'));
      const e = await d.facts().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as Error).message).toMatch(/^eos1: "show version \| json" gave an answer linkcrypt cannot read: expected a JSON object/);
    }
  });
});

describe("fuzz: every driver parser", () => {
  const lines = (words: string[]) =>
    fc.array(fc.oneof(fc.constantFrom(...words), nastyString(30)), { maxLength: 25 }).map((a) => a.join(""));

  it("linux-host: ethtool, cpuinfo, /proc/crypto, strongSwan version, xfrm_stat and the whole facts script", () => {
    const text = lines([
      "### uname\n",
      "### cpuinfo\n",
      "### crypto\n",
      "### nic eth0\n",
      "### features\n",
      "### xfrm_stat\n",
      "### strongswan\n",
      "name : ",
      "driver : ",
      "__proto__",
      "toString",
      "constructor",
      "\n\n",
      "flags : aes vaes\n",
      "driver: mlx5_core\n",
      "esp-hw-offload: on [fixed]\n",
      "XfrmInNoStates 12\n",
      "strongSwan swanctl 5.9.8\n",
      ":",
      " ",
    ]);
    fuzz("driver-linux-host", text, (t) => {
      returnsOrTyped(() => parseEthtoolInfo(t));
      returnsOrTyped(() => parseEthtoolFeatures(t));
      returnsOrTyped(() => parseCpuinfo(t));
      const c = returnsOrTyped(() => parseProcCrypto(t));
      if (!(c instanceof Error)) expect(Object.getPrototypeOf(c)).toBe(Object.prototype);
      returnsOrTyped(() => parseStrongswanVersion(t));
      returnsOrTyped(() => parseXfrmStat(t));
      returnsOrTyped(() => parseHostFacts(t));
      returnsOrTyped(() => parseXfrmStateSpis(t));
    });
  });

  it("junos-macsec: show security mka sessions", () => {
    fuzz(
      "driver-junos-mka",
      lines([
        "Interface name:",
        " xe-0/0/1",
        "\n",
        "Status: ",
        "Secured",
        "Unsecured",
        "Key server: yes",
        "Cipher suite: ",
        "  et-0/0/0  ",
        "Secured-Suspended",
      ]),
      (t) => {
        const r = returnsOrTyped(() => parseShowSecurityMkaSessions(t));
        if (Array.isArray(r)) for (const s of r) expect(s.interface).toMatch(/\S/);
      },
    );
  });

  it("eos-macsec: show mac security interface | json, direct and through the driver", async () => {
    const json = fc.oneof(
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.jsonValue().map((v) => JSON.stringify({ interfaces: { "Ethernet1/1": v, __proto__: v, toString: v } })),
      nastyString(40),
    );
    fuzz("driver-eos-parser", json, (t) => {
      try {
        parseShowMacSecurityInterface(t);
      } catch (e) {
        expect(e).toBeInstanceOf(Error); // the driver wraps it: see below
      }
    });
    await fuzzAsync(
      "driver-eos-driver",
      fc.tuple(json, json),
      async ([version, macsec]) => {
        const d = eosWith((l) => (l.some((x) => x.startsWith("show version")) ? version : macsec));
        await settlesOrTyped(d.facts());
        await settlesOrTyped(d.linkSecurity());
      },
      200,
    );
  });

  it("openconfig-macsec: interface status from any <get> reply", async () => {
    const el = fc.constantFrom(
      "macsec",
      "interfaces",
      "interface",
      "config",
      "state",
      "status",
      "counters",
      "mka",
      "policies",
      "policy",
      "name",
      "enable",
      "scsa-rx",
      "scsa-tx",
      "constructor",
      "__proto__",
      "toString",
    );
    const xml: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
      node: fc.oneof(
        { depthSize: "small" },
        fc.constantFrom("ACTIVE", "true", "7", "x", ""),
        fc.tuple(el, fc.array(tie("node"), { maxLength: 3 })).map(([n, kids]) => `<${n}>${kids.join("")}</${n}>`),
      ),
    })).node;
    await fuzzAsync("driver-openconfig", xml, async (x) => {
      const doc = await settlesOrTyped(parseXml(`<data>${x}</data>`));
      if (doc instanceof Error) return;
      returnsOrTyped(() => parseInterfaceStatus(doc.data, "2026-01-01T00:00:00Z"));
      returnsOrTyped(() => readOpenconfigEvidence(doc.data));
    });
  });

  it("mesh: the SA table from any decoded VICI list-sas events", () => {
    const msg: fc.Arbitrary<ViciMessage> = fc
      .letrec<{ m: ViciMessage }>((tie) => ({
        m: fc.dictionary(
          fc.oneof(
            fc.constantFrom(
              "child-sas",
              "state",
              "name",
              "spi-in",
              "bytes-in",
              "encr-keysize",
              "ikesas",
              "half-open",
              "plugins",
              "__proto__",
              "constructor",
            ),
            fc.string({ maxLength: 6 }),
          ),
          fc.oneof({ depthSize: "small" }, fc.string({ maxLength: 8 }), fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }), tie("m")),
          { maxKeys: 4 },
        ) as fc.Arbitrary<ViciMessage>,
      }))
      .m.map((m) => decodeMessage(encodeMessage(m))); // what the VICI client would hand over
    fuzz("mesh-sa-table", fc.tuple(fc.array(msg, { maxLength: 3 }), fc.option(msg, { nil: undefined })), ([events, stats]) => {
      returnsOrTyped(() => saTableFromVici("h1", events, stats));
    });
  });
});
