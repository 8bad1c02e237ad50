import { readFileSync } from "node:fs";
import type { ConfigChange } from "../../drivers/contract.js";
import { driverFactory } from "../../drivers/registry.js";
import { LATEST_LAB_MODELS } from "../../src/lab/lab-models.js";
import { dataXml, NetconfSession } from "../../src/transport/netconf/client.js";
import { SnmpSession } from "../../src/transport/snmp.js";
import { SshConnection } from "../../src/transport/ssh.js";
import { profiles } from "../helpers.js";
import { LAB_USER, type SshdPeer, startEosStandin, startNetconf, startSnmpd, startSshd } from "../lab/peers.js";
import { linuxMacsecDef } from "./linux-macsec-subject.js";
import { CAK, ctx, type Peer, type SubjectDef } from "./subject.js";

/** Every driver's contract subject: its real peer, and how driver and observers are built on any transports. */
/** An sshd-fronted peer's connections, one per role, as the lab account. */
function sshdPeer(peer: SshdPeer, stop: () => Promise<void>): Peer {
  return {
    ssh: (role) =>
      SshConnection.connect({
        device: role,
        host: peer.host,
        port: peer.port,
        username: LAB_USER,
        privateKey: readFileSync(peer.clientKeyPath),
        knownHostsFile: peer.knownHosts,
      }),
    snmp: () => {
      throw new Error("this peer has no SNMP agent");
    },
    stop,
  };
}

const macsecChange = (keychain: string, iface: string): ConfigChange => ({
  kind: "macsec",
  policy: { name: "lc-p1", suite: "GCM-AES-XPN-256", includeSci: true, keyServerPriority: 16, sakRekeySeconds: 3600, mustSecure: true },
  keychain: { name: keychain, ckn: "0a0b", cak: CAK, cryptoAlgorithm: "AES_256_CMAC" },
  interfaces: [{ name: iface, replayWindow: 64 }],
});

/** A NETCONF MACsec driver against netconfd; `observe` reads the cipher suite from running over its own session. */
function netconfDef(
  driverName: string,
  profile: string,
  keychain: string,
  iface: string,
  filter: string,
  suiteRe: RegExp,
  keyRe: RegExp,
  keysFilter = filter,
): SubjectDef {
  return {
    about: {
      peer: "netconfd (yuma123) behind a throwaway OpenSSH sshd on 127.0.0.1, serving the vendored YANG models of src/lab/models with its documented lab deviations",
      packages: ["netconfd", "openssh-server"],
      profile,
      models: [
        `openconfig-macsec ${LATEST_LAB_MODELS.macsec}`,
        `openconfig-keychain ${LATEST_LAB_MODELS.keychain}`,
        "junos security macsec (src/lab/models/junos-*)",
      ],
    },
    peer: async () => {
      const p = await startNetconf();
      return sshdPeer(p, () => p.stop());
    },
    build: async (io) => {
      const conn = await io.ssh("lab-sw1");
      const driver = driverFactory(driverName)!(ctx("lab-sw1", profiles().switches.get(profile)!, { ssh: async () => conn }));
      const probe = await io.ssh("probe");
      const nc = await NetconfSession.open(await probe.subsystem("netconf"), { device: "probe" });
      return {
        driver,
        change: macsecChange(keychain, iface),
        observe: async () => suiteRe.exec(dataXml(await nc.getConfig("running", filter)))?.[1] ?? "none",
        keys: async () => [...new Set([...dataXml(await nc.getConfig("running", keysFilter)).matchAll(keyRe)].map((m) => m[1]!))].sort(),
        stop: async () => {
          await nc.close();
          probe.close();
          conn.close();
        },
      };
    },
  };
}

export const SUBJECTS: Record<string, SubjectDef> = {
  "linux-host": {
    about: {
      peer: "a throwaway OpenSSH sshd on 127.0.0.1: the facts are those of the machine that recorded",
      packages: ["openssh-server"],
      profile: "lab-netns-host",
    },
    peer: async () => {
      const p = await startSshd();
      return sshdPeer(p, () => p.stop());
    },
    build: async (io) => {
      const conn = await io.ssh("lab-host");
      const driver = driverFactory("linux-host")!(ctx("lab-host", profiles().hosts.get("lab-netns-host")!, { ssh: async () => conn }));
      return { driver, change: undefined, observe: async () => "", stop: async () => conn.close() };
    },
  },
  "openconfig-macsec": netconfDef(
    "openconfig-macsec",
    "lab-openconfig-switch",
    "lc-kc1",
    "eth1",
    '<macsec xmlns="http://openconfig.net/yang/macsec"/>',
    /<macsec-cipher-suite>(\w+)</,
    /<key-id>(?:0x)?(\w+)<\/key-id>/g,
    '<keychains xmlns="http://openconfig.net/yang/oc-keychain"/>',
  ),
  "junos-macsec": netconfDef(
    "junos-macsec",
    "lab-junos-switch",
    "unused",
    "xe-0/0/1",
    '<configuration xmlns="http://xml.juniper.net/xnm/1.1/xnm"><security><macsec/></security></configuration>',
    /<cipher-suite>([\w-]+)</,
    /<ckn>(\w+)<\/ckn>/g,
  ),
  "eos-macsec": {
    about: {
      peer: "the lab's EOS CLI stand-in (src/lab/eos-cli.mjs; it is not EOS) behind a throwaway OpenSSH sshd on 127.0.0.1",
      packages: ["openssh-server"],
      profile: "arista-7280cr3mk-32p4",
    },
    peer: async () => {
      const p = await startEosStandin();
      return sshdPeer(p, () => p.stop());
    },
    build: async (io) => {
      const conn = await io.ssh("lab-eos1");
      const driver = driverFactory("eos-macsec")!(
        ctx("lab-eos1", profiles().switches.get("arista-7280cr3mk-32p4")!, { ssh: async () => conn }),
      );
      const probe = await io.ssh("probe");
      const running = async () => (await probe.shellScript(["show running-config section mac security"])).stdout;
      return {
        driver,
        change: macsecChange("unused", "Ethernet1/1"),
        // Observed through the device's own CLI, as an operator would.
        observe: async () => (await running()).split("\n").find((l) => / \/ cipher /.test(l)) ?? "none",
        keys: async () => [...(await running()).matchAll(/ \/ key (\S+) \d /g)].map((m) => m[1]!).sort(),
        stop: async () => {
          probe.close();
          conn.close();
        },
      };
    },
  },
  // A real Linux kernel with MACsec and wpa_supplicant: one kernel-lab VM (this machine's kernel has no MACsec).
  "linux-macsec": linuxMacsecDef(),
  "l1-snmp": {
    about: {
      peer: "net-snmp's snmpd on 127.0.0.1 (SNMPv3 authPriv, random keys) with the lab's pass_persist L1-encryptor agent",
      packages: ["snmpd"],
      profile: "acme-lx100",
    },
    peer: async () => {
      const p = await startSnmpd();
      return {
        ssh: async () => {
          throw new Error("this peer has no sshd");
        },
        snmp: (role) =>
          SnmpSession.open({
            device: role,
            host: p.host,
            port: p.port,
            version: "3",
            timeoutMs: 2000,
            retries: 0,
            user: { name: p.v3.user, authProtocol: "sha", authKey: p.v3.authKey, privProtocol: "aes", privKey: p.v3.privKey },
          }),
        stop: () => p.stop(),
      };
    },
    build: async (io) => {
      const driver = driverFactory("l1-snmp")!(ctx("lab-l1", profiles().l1.get("acme-lx100")!, { snmp: () => io.snmp("lab-l1") }));
      const probe = io.snmp("probe");
      return {
        driver,
        change: { kind: "l1", settings: { cipher: "AES-256-CTR", rotationInterval: 3600 } },
        observe: async () =>
          (await probe.get(["1.3.6.1.4.1.8072.9999.9999.1.2.0", "1.3.6.1.4.1.8072.9999.9999.1.4.0"])).map((v) => String(v.value)).join(" "),
        stop: async () => probe.close(),
      };
    },
  },
};
