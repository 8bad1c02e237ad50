import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigChange, Driver } from "../../drivers/contract.js";
import { driverFactory, type DriverContext } from "../../drivers/registry.js";
import { UnsupportedError } from "../../src/errors.js";
import { SnmpSession } from "../../src/transport/snmp.js";
import { SshConnection } from "../../src/transport/ssh.js";
import { dataXml, NetconfSession } from "../../src/transport/netconf/client.js";
import { profiles } from "../helpers.js";
import { LAB_USER, startEosStandin, startNetconf, startSnmpd, startSshd } from "../lab/peers.js";
import { kernelLabAvailable, linuxMacsecSubject } from "./linux-macsec-subject.js";

/**
 * One contract suite, run against every driver with its real peer. Each subject says how to build the driver,
 * which change to try, and how to observe the live configuration independently of the driver.
 */
interface Subject {
  driver: Driver;
  change: ConfigChange | undefined;
  /** The live value the change touches, read without the driver. */
  observe(): Promise<string>;
  /** MACsec subjects: the CKNs in the live configuration, read without the driver. */
  keys?(): Promise<string[]>;
  stop(): Promise<void>;
}

const CAK = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const subjects: Record<string, () => Promise<Subject>> = {
  "linux-host": async () => {
    const peer = await startSshd();
    const conn = await SshConnection.connect({
      device: "lab-host",
      host: peer.host,
      port: peer.port,
      username: LAB_USER,
      privateKey: readFileSync(peer.clientKeyPath),
      knownHostsFile: peer.knownHosts,
    });
    const driver = driverFactory("linux-host")!(ctx("lab-host", profiles().hosts.get("lab-netns-host")!, { ssh: async () => conn }));
    return { driver, change: undefined, observe: async () => "", stop: async () => (conn.close(), peer.stop()) };
  },
  "openconfig-macsec": () =>
    netconfSubject(
      "openconfig-macsec",
      "lab-openconfig-switch",
      "lc-kc1",
      "eth1",
      '<macsec xmlns="http://openconfig.net/yang/macsec"/>',
      /<macsec-cipher-suite>(\w+)</,
      /<key-id>(?:0x)?(\w+)<\/key-id>/g,
      '<keychains xmlns="http://openconfig.net/yang/oc-keychain"/>',
    ),
  "junos-macsec": () =>
    netconfSubject(
      "junos-macsec",
      "lab-junos-switch",
      "unused",
      "xe-0/0/1",
      '<configuration xmlns="http://xml.juniper.net/xnm/1.1/xnm"><security><macsec/></security></configuration>',
      /<cipher-suite>([\w-]+)</,
      /<ckn>(\w+)<\/ckn>/g,
    ),
  "eos-macsec": async () => {
    const peer = await startEosStandin();
    const conn = await SshConnection.connect({
      device: "lab-eos1",
      host: peer.host,
      port: peer.port,
      username: LAB_USER,
      privateKey: readFileSync(peer.clientKeyPath),
      knownHostsFile: peer.knownHosts,
    });
    const driver = driverFactory("eos-macsec")!(
      ctx("lab-eos1", profiles().switches.get("arista-7280cr3mk-32p4")!, { ssh: async () => conn }),
    );
    const probe = await SshConnection.connect({
      device: "probe",
      host: peer.host,
      port: peer.port,
      username: LAB_USER,
      privateKey: readFileSync(peer.clientKeyPath),
      knownHostsFile: peer.knownHosts,
    });
    return {
      driver,
      change: {
        kind: "macsec",
        policy: {
          name: "lc-p1",
          suite: "GCM-AES-XPN-256",
          includeSci: true,
          keyServerPriority: 16,
          sakRekeySeconds: 3600,
          mustSecure: true,
        },
        keychain: { name: "unused", ckn: "0a0b", cak: CAK, cryptoAlgorithm: "AES_256_CMAC" },
        interfaces: [{ name: "Ethernet1/1", replayWindow: 64 }],
      },
      // Observed through the device's own CLI, as an operator would.
      observe: async () =>
        (await probe.shellScript(["show running-config section mac security"])).stdout.split("\n").find((l) => / \/ cipher /.test(l)) ??
        "none",
      keys: async () =>
        [...(await probe.shellScript(["show running-config section mac security"])).stdout.matchAll(/ \/ key (\S+) \d /g)]
          .map((m) => m[1]!)
          .sort(),
      stop: async () => {
        probe.close();
        conn.close();
        await peer.stop();
      },
    };
  },
  // A real Linux kernel with MACsec and wpa_supplicant: one kernel-lab VM (this machine's kernel has no MACsec).
  "linux-macsec": () => linuxMacsecSubject(CAK, (device, profile, o) => ctx(device, profile, o)),
  "l1-snmp": async () => {
    const peer = await startSnmpd();
    const v3 = {
      device: "lab-l1",
      host: peer.host,
      port: peer.port,
      version: "3" as const,
      timeoutMs: 2000,
      retries: 0,
      user: {
        name: peer.v3.user,
        authProtocol: "sha" as const,
        authKey: peer.v3.authKey,
        privProtocol: "aes" as const,
        privKey: peer.v3.privKey,
      },
    };
    const driver = driverFactory("l1-snmp")!(ctx("lab-l1", profiles().l1.get("acme-lx100")!, { snmp: () => SnmpSession.open(v3) }));
    const probe = SnmpSession.open(v3);
    return {
      driver,
      change: { kind: "l1", settings: { cipher: "AES-256-CTR", rotationInterval: 3600 } },
      observe: async () =>
        (await probe.get(["1.3.6.1.4.1.8072.9999.9999.1.2.0", "1.3.6.1.4.1.8072.9999.9999.1.4.0"])).map((v) => String(v.value)).join(" "),
      stop: async () => (probe.close(), peer.stop()),
    };
  },
};

/** A NETCONF MACsec driver against netconfd; `observe` reads the cipher suite from running over its own session. */
async function netconfSubject(
  driverName: string,
  profile: string,
  keychain: string,
  iface: string,
  filter: string,
  suiteRe: RegExp,
  keyRe: RegExp,
  keysFilter = filter,
): Promise<Subject> {
  const peer = await startNetconf();
  const connect = (device: string) =>
    SshConnection.connect({
      device,
      host: peer.host,
      port: peer.port,
      username: LAB_USER,
      privateKey: readFileSync(peer.clientKeyPath),
      knownHostsFile: peer.knownHosts,
    });
  const conn = await connect("lab-sw1");
  const driver = driverFactory(driverName)!(ctx("lab-sw1", profiles().switches.get(profile)!, { ssh: async () => conn }));
  const probe = await connect("probe");
  const nc = await NetconfSession.open(await probe.subsystem("netconf"), { device: "probe" });
  return {
    driver,
    change: {
      kind: "macsec",
      policy: { name: "lc-p1", suite: "GCM-AES-XPN-256", includeSci: true, keyServerPriority: 16, sakRekeySeconds: 3600, mustSecure: true },
      keychain: { name: keychain, ckn: "0a0b", cak: CAK, cryptoAlgorithm: "AES_256_CMAC" },
      interfaces: [{ name: iface, replayWindow: 64 }],
    },
    observe: async () => suiteRe.exec(dataXml(await nc.getConfig("running", filter)))?.[1] ?? "none",
    keys: async () => [...new Set([...dataXml(await nc.getConfig("running", keysFilter)).matchAll(keyRe)].map((m) => m[1]!))].sort(),
    stop: async () => {
      await nc.close();
      probe.close();
      conn.close();
      await peer.stop();
    },
  };
}

function ctx(device: string, profile: object, o: Partial<DriverContext>): DriverContext {
  return {
    device,
    profile: profile as Record<string, unknown>,
    commandTimeoutMs: 15_000,
    now: () => new Date(),
    ssh: async () => {
      throw new Error("no ssh for this subject");
    },
    snmp: () => {
      throw new Error("no snmp for this subject");
    },
    ...o,
  };
}

for (const [name, make] of Object.entries(subjects)) {
  const skip = name === "linux-macsec" ? kernelLabAvailable() : undefined;
  if (skip) console.warn(`drivers: contract: ${name} skipped: ${skip}`);
  describe.skipIf(skip !== undefined)(`drivers: contract: ${name}`, () => {
    let s: Subject;
    beforeAll(async () => {
      s = await make();
      await s.driver.connect();
    }, 300_000); // a kernel-lab VM boots under TCG
    afterAll(async () => {
      await s?.driver.close();
      await s?.stop();
    }, 60_000);

    it("is registered under its name and reports facts about the real device", async () => {
      expect(s.driver.name).toBe(name);
      const f = await s.driver.facts();
      expect(f).toMatchObject({ driver: name, reachable: true });
      expect(Date.parse(f.observedAt)).not.toBeNaN();
    });

    it("reports link-security state with a known status and a timestamp", async () => {
      const states = await s.driver.linkSecurity();
      for (const st of states) {
        expect(["secured", "unsecured", "pending", "unknown"]).toContain(st.status);
        expect(st.detail.length).toBeGreaterThan(0);
      }
    });

    it("a read-only driver refuses every write step", async (t) => {
      if (s.driver.flags.writable) return t.skip(`${name} is writable`);
      for (const step of [
        () => s.driver.loadCandidate({ kind: "l1", settings: {} }),
        () => s.driver.diff(),
        () => s.driver.commit({ confirmTimeoutS: 5 }),
        () => s.driver.confirm(),
        () => s.driver.rollback(),
      ])
        await expect(step()).rejects.toBeInstanceOf(UnsupportedError);
    });

    it("a staged change shows in the diff and changes nothing live; rollback drops it", async (t) => {
      if (!s.driver.flags.candidate || !s.change) return t.skip(`${name} has no candidate to stage into`);
      const before = await s.observe();
      await s.driver.loadCandidate(s.change);
      const diff = await s.driver.diff();
      expect(diff).not.toBe("");
      expect(diff).not.toContain(CAK); // secrets never appear in a diff
      expect(await s.observe()).toBe(before);
      await s.driver.rollback();
      expect(await s.observe()).toBe(before);
    });

    it("a confirmed commit that is not confirmed really rolls back", async (t) => {
      if (!s.driver.flags.confirmedCommit || !s.change) return t.skip(`${name} has no confirmed commit`);
      const before = await s.observe();
      await s.driver.loadCandidate(s.change);
      await s.driver.commit({ confirmTimeoutS: 2 });
      expect(await s.observe()).not.toBe(before);
      await new Promise((r) => setTimeout(r, 3500));
      expect(await s.observe()).toBe(before);
      await s.driver.rollback().catch(() => undefined); // nothing left to cancel: the device already did
    });

    it("a confirmed commit that is confirmed stays", async (t) => {
      if (!s.driver.flags.confirmedCommit || !s.change) return t.skip(`${name} has no confirmed commit`);
      await s.driver.loadCandidate(s.change);
      await s.driver.commit({ confirmTimeoutS: 2 });
      const during = await s.observe();
      await s.driver.confirm();
      await new Promise((r) => setTimeout(r, 2500));
      expect(await s.observe()).toBe(during);
    });

    it("a confirmed commit left by a closed session is cancelled by its token from a new one (cancelPending)", async (t) => {
      if (!s.driver.cancelPending || s.change?.kind !== "macsec") return t.skip(`${name} has no cancelPending, or is not a MACsec driver`);
      const before = await s.observe();
      // a change from whatever earlier steps left: the other XPN suite
      const suite = /128/.test(before) ? "GCM-AES-XPN-256" : "GCM-AES-XPN-128";
      await s.driver.loadCandidate({ ...s.change, policy: { ...s.change.policy, suite } });
      await s.driver.commit({ confirmTimeoutS: 60, token: "linkcrypt-contract-orphan" });
      expect(await s.observe()).not.toBe(before);
      await s.driver.close(); // the "dead" controller's session goes away; the persist token keeps the commit pending
      await s.driver.connect();
      expect(await s.observe()).not.toBe(before);
      expect(await s.driver.cancelPending("linkcrypt-contract-orphan")).toBe(true);
      expect(await s.observe()).toBe(before);
      expect(await s.driver.cancelPending("linkcrypt-contract-orphan")).toBe(false); // nothing pending any more
    });

    it("a MACsec key rotation installs both keys, then retiring leaves only the new one", async (t) => {
      if (!s.keys || s.change?.kind !== "macsec") return t.skip(`${name} is not a MACsec driver with observable keys`);
      const base = s.change;
      const step = async (c: ConfigChange) => {
        await s.driver.loadCandidate(c);
        await s.driver.commit({ confirmTimeoutS: 30 });
        if (s.driver.flags.confirmedCommit) await s.driver.confirm();
      };
      await step(base);
      expect(await s.keys()).toEqual(["0a0b"]);
      const next = { ckn: "0c0d", cak: "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100" };
      await step({ ...base, keychain: { ...base.keychain, nextKey: next } });
      expect(await s.keys()).toEqual(["0a0b", "0c0d"]);
      await step({
        ...base,
        keychain: { name: base.keychain.name, cryptoAlgorithm: base.keychain.cryptoAlgorithm, ...next, retireCkns: ["0a0b"] },
      });
      expect(await s.keys()).toEqual(["0c0d"]);
    });

    it("without confirmed commit, confirm() says so; commit is verified and rollback restores", async (t) => {
      if (s.driver.flags.confirmedCommit || !s.driver.flags.writable || !s.change)
        return t.skip(`${name} has confirmed commit, or is read-only`);
      await expect(s.driver.confirm()).rejects.toBeInstanceOf(UnsupportedError);
      const before = await s.observe();
      await s.driver.loadCandidate(s.change);
      await s.driver.commit({ confirmTimeoutS: 2 });
      const after = await s.observe();
      expect(after).not.toBe(before);
      expect(s.driver.flags.rollback).toBe(true);
      await s.driver.rollback();
      expect(await s.observe()).toBe(before);
    });
  });
}
