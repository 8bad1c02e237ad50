import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create } from "../../drivers/linux-host/index.js";
import { SshConnection } from "../../src/transport/ssh.js";
import { profiles } from "../helpers.js";
import { LAB_USER, startSshd, type SshdPeer } from "../lab/peers.js";

let peer: SshdPeer;
let conn: SshConnection;
beforeAll(async () => {
  peer = await startSshd();
  conn = await SshConnection.connect({
    device: "this-machine",
    host: peer.host,
    port: peer.port,
    username: LAB_USER,
    privateKey: readFileSync(peer.clientKeyPath),
    knownHostsFile: peer.knownHosts,
  });
});
afterAll(async () => {
  conn?.close();
  await peer?.stop();
});

describe("drivers: linux-host on the real test machine", () => {
  it("reads facts that match what this kernel really has", async () => {
    const d = create({
      device: "this-machine",
      profile: profiles().hosts.get("lab-netns-host")! as never,
      ssh: async () => conn,
      snmp: () => {
        throw new Error();
      },
      commandTimeoutMs: 15_000,
      now: () => new Date(),
    });
    const f = (await d.facts()).host!;
    expect(f.kernel).toBe(readFileSync("/proc/sys/kernel/osrelease", "utf8").trim());
    const cpu = readFileSync("/proc/cpuinfo", "utf8");
    expect(f.cpuFlags.includes("aes")).toBe(/^flags\s*:.*\baes\b/m.test(cpu));
    const crypto = readFileSync("/proc/crypto", "utf8");
    // This CI machine's kernel has no gcm(aes): the driver must see exactly what /proc/crypto says.
    expect("rfc4106(gcm(aes))" in f.kernelAlgorithms).toBe(/^name\s*:\s*rfc4106\(gcm\(aes\)\)$/m.test(crypto));
    expect("cbc(aes)" in f.kernelAlgorithms).toBe(/^name\s*:\s*cbc\(aes\)$/m.test(crypto));
    expect(f.xfrmStat === undefined).toBe(!readFileSync("/proc/net/xfrm_stat", "utf8").trim());
  });
});
