import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConfigChange, Driver } from "../../drivers/contract.js";
import { driverFactory } from "../../drivers/registry.js";
import { KERNEL_LAB_CACHE, kernelLabDown, kernelLabUp } from "../../src/lab/kernel/vm-lab.js";
import { SshConnection } from "../../src/transport/ssh.js";
import { profiles } from "../helpers.js";
import { CAK, ctx, type SubjectDef } from "./subject.js";

/**
 * The linux-macsec driver's contract peer: one kernel-lab VM (Debian 6.12 under QEMU TCG) with kernel MACsec and the
 * host's wpa_supplicant, reached as root over SSH. Alone on its segment, so MKA never secures here (the kernel lab
 * test does that with two VMs); the contract is about the configuration transaction.
 * Live state is read without the driver: which wpa_supplicant processes run, with which configuration file's CKN.
 */
export function kernelLabAvailable(): string | undefined {
  if (process.getuid?.() !== 0) return "the kernel lab needs root";
  if (spawnSync("qemu-system-x86_64", ["--version"]).status !== 0) return "qemu-system-x86_64 is not installed";
  if (!existsSync(KERNEL_LAB_CACHE)) return `no prepared lab kernel in ${KERNEL_LAB_CACHE} (sudo bash src/lab/kernel/prepare.sh)`;
  return undefined;
}

export function linuxMacsecDef(): SubjectDef {
  return {
    about: {
      peer: "one kernel-lab VM (Debian, kernel 6.12 under QEMU TCG, src/lab/kernel) with kernel MACsec and wpa_supplicant, as root over SSH",
      packages: ["qemu-system-x86", "wpasupplicant"],
      profile: "linux-macsec-switch",
    },
    realSkip: kernelLabAvailable,
    peer: async () => {
      const dir = join(mkdtempSync(join(tmpdir(), "lc-contract-klab-")), "lab");
      const lab = await kernelLabUp({ name: `ct${process.pid}`, dir, vms: [{ name: "lsw1", nsim: false }] });
      const vm = lab.vms[0]!;
      return {
        ssh: (role) =>
          SshConnection.connect({
            device: role,
            host: "127.0.0.1",
            port: vm.sshPort,
            username: "root",
            privateKey: readFileSync(lab.clientKey),
            knownHostsFile: lab.knownHosts,
            commandTimeoutMs: 60_000,
          }),
        snmp: () => {
          throw new Error("this peer has no SNMP agent");
        },
        stop: async () => {
          await kernelLabDown(dir);
        },
      };
    },
    build: async (io) => {
      const conn = await io.ssh("lab-linux-sw1");
      const probe = await io.ssh("probe");
      const driver: Driver = driverFactory("linux-macsec")!(
        ctx("lab-linux-sw1", profiles().switches.get("linux-macsec-switch")!, { ssh: async () => conn, commandTimeoutMs: 60_000 }),
      );
      // the configuration file each running wpa_supplicant was started with (-c), from /proc
      const daemonConfs = "for p in $(pgrep -x wpa_supplicant); do tr '\\0' '\\n' < /proc/$p/cmdline | sed -n '/^-c$/{n;p;}'; done";
      const change: ConfigChange = {
        kind: "macsec",
        policy: { name: "lc-p1", suite: "GCM-AES-128", includeSci: true, keyServerPriority: 16, sakRekeySeconds: 3600, mustSecure: true },
        keychain: { name: "unused", ckn: "0a0b", cak: CAK, cryptoAlgorithm: "AES_256_CMAC" },
        interfaces: [{ name: "mesh0", replayWindow: 64 }],
      };
      return {
        driver,
        change,
        // the SecYs in the kernel and the daemons keying them
        observe: async () =>
          (
            await probe.run(
              `(ip -o -d link show type macsec | grep -o 'sci [0-9a-f]*'; ${daemonConfs} | xargs -r grep -h mka_ckn) | sort | tr '\\n' ' '`,
            )
          ).trim() || "none",
        keys: async () =>
          (await probe.run(`${daemonConfs} | xargs -r grep -h mka_ckn | sed 's/.*=//' | sort -u`)).split("\n").filter(Boolean),
        stop: async () => {
          probe.close();
          conn.close();
        },
      };
    },
  };
}
