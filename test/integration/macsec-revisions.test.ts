import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Driver, DriverContext, MacsecChange } from "../../drivers/contract.js";
import { driverFactory } from "../../drivers/registry.js";
import { UnsupportedError } from "../../src/errors.js";
import { openconfigDialect, renderOpenconfigMacsec } from "../../drivers/openconfig-macsec/render.js";
import { dataXml, NetconfRpcError, NetconfSession } from "../../src/transport/netconf/client.js";
import { SshConnection } from "../../src/transport/ssh.js";
import { cli } from "../cli-run.js";
import { profiles } from "../helpers.js";
import { LAB_USER, netconfProbe, startNetconf, type NetconfPeer } from "../lab/peers.js";

/**
 * The same link against lab switches that serve different published revisions (openconfig-macsec 1.2.0 with
 * openconfig-keychain 0.5.0, and 1.1.1 with 0.4.0): the driver reads the revisions from the hello, sends what each
 * model takes, and refuses what a model cannot express (SCI on 1.1.1) before sending anything.
 */
const CAK = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const CKN = "a1".repeat(32);
const link = (includeSci: boolean): MacsecChange => ({
  kind: "macsec",
  policy: { name: "lc-dc1-dc2", suite: "GCM-AES-XPN-256", includeSci, keyServerPriority: 16, sakRekeySeconds: 3600, mustSecure: true },
  keychain: { name: "lc-dc1-dc2", ckn: CKN, cak: CAK, cryptoAlgorithm: "AES_256_CMAC" },
  interfaces: [{ name: "Ethernet1", replayWindow: 64 }],
});

function ctx(device: string, conn: SshConnection): DriverContext {
  return {
    device,
    profile: profiles().switches.get("lab-openconfig-switch")! as unknown as Record<string, unknown>,
    commandTimeoutMs: 15_000,
    now: () => new Date(),
    ssh: async () => conn,
    snmp: () => {
      throw new Error("no snmp");
    },
  };
}

for (const set of [
  { macsec: "1.2.0", keychain: "0.5.0", macsecRev: "2025-01-02", keychainRev: "2024-05-30" },
  { macsec: "1.1.1", keychain: "0.4.0", macsecRev: "2023-08-03", keychainRev: "2022-11-05" },
] as const) {
  describe(`openconfig-macsec driver against a lab switch with openconfig-macsec ${set.macsec} and openconfig-keychain ${set.keychain}`, () => {
    let peer: NetconfPeer;
    let conn: SshConnection;
    let probeConn: SshConnection;
    let probe: NetconfSession;
    let driver: Driver;
    beforeAll(async () => {
      peer = await startNetconf({ models: { macsec: set.macsec, keychain: set.keychain } });
      const connect = (device: string) =>
        SshConnection.connect({
          device,
          host: peer.host,
          port: peer.port,
          username: LAB_USER,
          privateKey: readFileSync(peer.clientKeyPath),
          knownHostsFile: peer.knownHosts,
        });
      conn = await connect("lab-oc");
      probeConn = await connect("probe");
      probe = await NetconfSession.open(await probeConn.subsystem("netconf"), { device: "probe" });
      driver = driverFactory("openconfig-macsec")!(ctx("lab-oc", conn));
      await driver.connect();
    });
    afterAll(async () => {
      await driver?.close();
      await probe?.close();
      probeConn?.close();
      conn?.close();
      await peer?.stop();
    });
    const running = async () =>
      dataXml(
        await probe.getConfig(
          "running",
          '<keychains xmlns="http://openconfig.net/yang/oc-keychain"/><macsec xmlns="http://openconfig.net/yang/macsec"/>',
        ),
      );

    it("the hello announces the revisions the switch serves, and facts name them", async () => {
      expect(openconfigDialect(probe.serverCapabilities)).toMatchObject({
        macsecRevision: set.macsecRev,
        keychainRevision: set.keychainRev,
        announced: { macsec: true, keychain: true },
      });
      expect((await driver.facts()).system?.description).toBe(
        `openconfig-macsec ${set.macsec} (${set.macsecRev}), openconfig-keychain ${set.keychain} (${set.keychainRev})`,
      );
    });

    it("a link with the SCI: accepted on 1.2.0; on 1.1.1 refused before anything is sent", async () => {
      const before = await running();
      if (set.macsec === "1.1.1") {
        const e = await driver.loadCandidate(link(true)).then(
          () => undefined,
          (x: unknown) => x,
        );
        expect(e).toBeInstanceOf(UnsupportedError);
        expect((e as Error).message).toMatch(/openconfig-macsec 1\.1\.1.*include-sci.*nothing was sent/);
        expect(await driver.diff()).toBe("");
        expect(await running()).toBe(before);
        return;
      }
      await driver.loadCandidate(link(true));
      await driver.commit({ confirmTimeoutS: 30 });
      await driver.confirm();
      const after = await running();
      expect(after).toContain("<include-sci>true</include-sci>");
      expect(after).toContain(`<key-id>0x${CKN}</key-id>`);
    });

    it("a link without the SCI: committed in the key-id form this keychain revision takes", async () => {
      await driver.loadCandidate(link(false));
      await driver.commit({ confirmTimeoutS: 30 });
      await driver.confirm();
      const after = await running();
      expect(after).toContain(set.keychain === "0.5.0" ? `<key-id>0x${CKN}</key-id>` : `<key-id>${CKN}</key-id>`);
      expect(after).toMatch(/<crypto-algorithm[^>]*>[\w-]+:AES_256_CMAC<\/crypto-algorithm>/);
      if (set.macsec === "1.1.1") expect(after).not.toContain("include-sci");
      else expect(after).toContain("<include-sci>false</include-sci>");
    });

    it("the switch enforces its model: the other revision set's payload is rejected by netconfd", async () => {
      const other =
        set.macsec === "1.2.0"
          ? { macsecRevision: "2023-08-03", keychainRevision: "2022-11-05" }
          : { macsecRevision: "2025-01-02", keychainRevision: "2024-05-30" };
      const payload = renderOpenconfigMacsec(link(set.macsec !== "1.2.0"), undefined, other);
      await probe.lock("candidate");
      try {
        await expect(
          probe.editConfig("candidate", payload, { defaultOperation: "merge", errorOption: "rollback-on-error" }),
        ).rejects.toBeInstanceOf(NetconfRpcError);
      } finally {
        await probe.discardChanges();
        await probe.unlock("candidate");
      }
    });

    it("state: the lab runs no MKA, so the link reads 'unknown' with the reason (never 'secured')", async () => {
      const st = (await driver.linkSecurity()).find((s) => s.port === "Ethernet1");
      expect(st?.status).toBe("unknown");
      expect(st?.detail).toMatch(/^secured: not verified \(the profile sets mkaObservable: false\): .*no MKA state/);
    });
  });
}

describe("the CLI refuses what a 1.1.1 switch cannot take: plan --facts and apply --dry-run", () => {
  const dir = mkdtempSync(join(tmpdir(), "lc-revisions-"));
  const inv = join(dir, "inv.yaml");
  let a: NetconfPeer, b: NetconfPeer;
  beforeAll(async () => {
    [a, b] = await Promise.all([
      startNetconf({ models: { macsec: "1.1.1", keychain: "0.4.0" } }),
      startNetconf({ models: { macsec: "1.1.1", keychain: "0.4.0" } }),
    ]);
    writeFileSync(join(dir, "known_hosts"), readFileSync(a.knownHosts, "utf8") + readFileSync(b.knownHosts, "utf8"));
    writeFileSync(join(dir, "secrets.yaml"), "{}\n", { mode: 0o600 });
    const sw = (name: string, site: string, p: NetconfPeer) => ({
      name,
      kind: "switch",
      site,
      profile: "lab-openconfig-switch",
      management: { address: p.host, port: p.port, transport: "netconf" },
      credentials: { username: LAB_USER, secret: `file:${p.clientKeyPath}` },
      ports: [{ name: "eth1", speed: "100G", mtu: 9000 }],
    });
    writeFileSync(
      inv,
      stringify({
        version: 1,
        name: "rev-lab",
        policy: "default",
        sites: [{ name: "a" }, { name: "b" }],
        devices: [sw("sw-a", "a", a), sw("sw-b", "b", b)],
        links: [{ name: "ab", a: "sw-a:eth1", b: "sw-b:eth1", medium: "dwdm", speed: "100G", pathMtu: 9216 }],
      }),
    );
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a, b].map((p) => p?.stop()));
    rmSync(dir, { recursive: true, force: true });
  });
  const access = () => ["--known-hosts", join(dir, "known_hosts"), "--secrets", join(dir, "secrets.yaml")];

  it("apply --dry-run of a plan made without facts: the link fails with the reason, nothing reaches the switches", async () => {
    expect((await cli("plan", inv, "--out", join(dir, "plan.json"))).code).toBe(0);
    const r = await cli("apply", join(dir, "plan.json"), "--inventory", inv, "--state-dir", join(dir, "state"), ...access(), "--dry-run");
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.out + r.err, r.out + r.err).toMatch(/ab\s+macsec\s+failed\s+.*openconfig-macsec 1\.1\.1 .*include-sci.*nothing was sent/);
    const { nc, close } = await probeOf(a);
    expect(dataXml(await nc.getConfig("running", '<macsec xmlns="http://openconfig.net/yang/macsec"/>'))).not.toContain("lc-");
    await close();
  });

  it("plan --facts: refused, naming the link, the switch and its revision; with macsecOmitSci it plans", async () => {
    const d = await cli("discover", inv, ...access(), "--out", join(dir, "facts.json"));
    expect(d.code, d.out + d.err).toBe(0);
    const p = await cli("plan", inv, "--facts", join(dir, "facts.json"));
    expect(p.code).not.toBe(0);
    expect(p.out + p.err).toMatch(/sw-a: link ab: MACsec would include the SCI, but the device \(openconfig-macsec 1\.1\.1 \(2023-08-03\)/);
    writeFileSync(inv, readFileSync(inv, "utf8").replace("pathMtu: 9216", "pathMtu: 9216\n    macsecOmitSci: true"));
    const ok = await cli("plan", inv, "--facts", join(dir, "facts.json"), "--out", join(dir, "plan2.json"));
    expect(ok.code, ok.out + ok.err).toBe(0);
    const r = await cli(
      "apply",
      join(dir, "plan2.json"),
      "--inventory",
      inv,
      "--facts",
      join(dir, "facts.json"),
      "--state-dir",
      join(dir, "state"),
      ...access(),
      "--dry-run",
    );
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.out).toMatch(/ab\s+macsec\s+planned/);
    expect(r.out).not.toContain("include-sci");
  });
});

const probeOf = (p: NetconfPeer) => netconfProbe(p);
