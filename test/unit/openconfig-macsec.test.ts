import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { judgeOpenconfig, readOpenconfigEvidence } from "../../drivers/openconfig-macsec/index.js";
import { MODELS_DIR } from "../../src/lab/lab-models.js";
import { parseXml } from "../../src/transport/netconf/xml.js";

/**
 * "Secured" on openconfig-macsec 1.2.0 comes from leaves that exist in that release (the fixture is validated as
 * <get> data against the vendored 1.2.0 model): MKA counters, the SAK MKPDU counters, and the RX/TX secure channels.
 */
const FIXTURE = "test/fixtures/openconfig/macsec-state-1.2.0.xml";
const OC = join(MODELS_DIR, "openconfig");
const work = mkdtempSync(join(tmpdir(), "linkcrypt-oc-state-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const getValid = (xml: string) => {
  const f = join(work, `g${Math.random().toString(36).slice(2)}.xml`);
  writeFileSync(f, xml);
  try {
    execFileSync(
      "yanglint",
      [
        "-p",
        OC,
        "-t",
        "get",
        join(OC, "openconfig-macsec.yang"),
        join(OC, "openconfig-keychain-types.yang"),
        join(OC, "openconfig-macsec-types.yang"),
        f,
      ],
      { stdio: "pipe" },
    );
    return "";
  } catch (e) {
    return String((e as { stderr?: Buffer }).stderr ?? e);
  }
};
const evidence = async (xml: string) => readOpenconfigEvidence((await parseXml(`<data>${xml}</data>`)).data);
const now = "2026-11-28T05:00:00.000Z";

describe("openconfig-macsec: secured from 1.2.0 state", () => {
  it("the fixture uses only leaves of openconfig-macsec 1.2.0; the 1.3.0 draft's state/status is not one of them", () => {
    const xml = readFileSync(FIXTURE, "utf8");
    expect(getValid(xml)).toBe("");
    expect(
      getValid(xml.replace("<state>\n        <name>Ethernet1</name>", "<state>\n        <status>ACTIVE</status><name>Ethernet1</name>")),
    ).toMatch(/status/);
  });

  it("secured needs in-mkpdu to grow between two samples, SAK MKPDUs, and RX and TX secure channels", async () => {
    const xml = readFileSync(FIXTURE, "utf8");
    const first = await evidence(xml);
    const second = await evidence(xml.replace("<in-mkpdu>1500</in-mkpdu>", "<in-mkpdu>1501</in-mkpdu>"));
    const e1 = second.find((e) => e.port === "Ethernet1")!;
    const s = judgeOpenconfig(
      e1,
      first.find((e) => e.port === "Ethernet1"),
      now,
    );
    expect(s).toMatchObject({ port: "Ethernet1", status: "secured", cipher: "GCM_AES_XPN_256" });
    expect(s.detail).toMatch(/in-mkpdu 1500->1501/);
    expect(s.counters).toMatchObject({ "sa-valid": 4980, "sa-encrypted": 5120, "mka-out-sak-mkpdu": 3 });
    // The same counters with no new MKPDU: the peer is gone, whatever the totals say.
    expect(judgeOpenconfig(first[0]!, first[0], now).status).toBe("unsecured");
    // One sample alone never says secured.
    expect(judgeOpenconfig(first[0]!, undefined, now).status).toBe("pending");
  });

  it("no peer, no SAK or no secure channels is not secured", async () => {
    const xml = readFileSync(FIXTURE, "utf8");
    const [a] = await evidence(xml);
    const [b] = await evidence(
      xml
        .replace("<in-mkpdu>1500</in-mkpdu>", "<in-mkpdu>1501</in-mkpdu>")
        .replace("<out-sak-mkpdu>3</out-sak-mkpdu>", "<out-sak-mkpdu>0</out-sak-mkpdu>"),
    );
    expect(judgeOpenconfig(b!, a, now).status).toBe("pending");
    const [c] = await evidence(
      xml.replace("<in-mkpdu>1500</in-mkpdu>", "<in-mkpdu>1501</in-mkpdu>").replace(/<scsa-rx>[\s\S]*<\/scsa-rx>/, ""),
    );
    expect(judgeOpenconfig(c!, a, now).status).toBe("pending");
    const e2 = (await evidence(xml)).find((e) => e.port === "Ethernet2")!;
    expect(judgeOpenconfig(e2, e2, now).status).toBe("unsecured");
  });

  it("a device that exposes no MKA state reads unknown with the reason; a disabled port unsecured; the 1.3.0 draft status is taken as is", async () => {
    const bare =
      '<macsec xmlns="http://openconfig.net/yang/macsec"><interfaces><interface><name>Ethernet1</name><config><name>Ethernet1</name><enable>true</enable></config></interface></interfaces></macsec>';
    const [u] = await evidence(bare);
    expect(judgeOpenconfig(u!, undefined, now)).toMatchObject({ status: "unknown", detail: expect.stringMatching(/no MKA state/) });
    const [d] = await evidence(bare.replace("<enable>true</enable>", "<enable>false</enable>"));
    expect(judgeOpenconfig(d!, undefined, now).status).toBe("unsecured");
    const [s] = await evidence(bare.replace("</config>", "</config><state><status>ACTIVE</status></state>"));
    expect(judgeOpenconfig(s!, undefined, now)).toMatchObject({ status: "secured", detail: expect.stringMatching(/1\.3\.0 draft/) });
  });
});
