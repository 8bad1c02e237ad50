import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sshFor } from "../../src/devices/device-access.js";
import { ConnectError, HostKeyError } from "../../src/errors.js";
import type { DeviceEntry } from "../../src/model/inventory-schema.js";
import { SshPool } from "../../src/transport/ssh.js";
import { cli } from "../cli-run.js";
import { freePort, killPid, LAB_USER, labDir, type SshdPeer, startSshd } from "../lab/peers.js";

/**
 * ProxyJump for real. Three OpenSSH servers:
 *
 *   test process (root namespace) --> bastion1 on 127.0.0.1:P1 (root namespace)
 *                                 --> bastion2 on 10.213.X.2:P2, inside a network namespace this test creates,
 *                                     reached over a veth pair (10.213.X.1 <-> 10.213.X.2)
 *   target: 127.0.0.1:PT on the namespace's own loopback, so from the root namespace 127.0.0.1:PT is nothing at
 *   all (a direct connection is refused), while bastion2 reaches it. The target's sessions get LC_ROLE=target.
 *
 * Devices are reached through sshFor, as discover, verify and mesh do, with only an ssh_config saying how.
 */
const X = process.pid % 250;
const NS = `lcpj${process.pid}`;
const VETH = `lcpj${process.pid % 100000}`;
const BASTION2_ADDR = `10.213.${X}.2`;
let bastion1: SshdPeer;
let dir = "";
let pt = 0;
const p2 = 2222;
const nsPids: number[] = [];
let sshConfig = "";
let knownHosts = "";

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"] }).toString();

async function startNsSshd(name: string, listen: string, port: number, extra: string[]): Promise<void> {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", join(dir, `${name}_host_key`)]);
  const cfg = [
    `Port ${port}`,
    `ListenAddress ${listen}`,
    `HostKey ${join(dir, `${name}_host_key`)}`,
    `PidFile ${join(dir, `${name}.pid`)}`,
    "UsePAM no",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    `AuthorizedKeysFile ${join(dir, "authorized")}/%u`,
    "StrictModes no",
    "PermitRootLogin no",
    `AllowUsers ${LAB_USER}`,
    "AllowTcpForwarding yes",
    "LogLevel VERBOSE",
    ...extra,
  ];
  writeFileSync(join(dir, `${name}_sshd_config`), `${cfg.join("\n")}\n`);
  const log = join(dir, `${name}.log`);
  writeFileSync(log, "");
  // `ip netns exec` enters the namespace and execs sshd, so the pid is sshd's.
  const p = spawn("ip", ["netns", "exec", NS, "/usr/sbin/sshd", "-D", "-e", "-f", join(dir, `${name}_sshd_config`)], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  p.stderr.on("data", (d: Buffer) => writeFileSync(log, d, { flag: "a" }));
  nsPids.push(p.pid!);
  for (let i = 0; i < 160; i++) {
    if (readFileSync(log, "utf8").includes("Server listening on")) return;
    if (p.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} sshd in ${NS} did not start:\n${readFileSync(log, "utf8")}`);
}

beforeAll(async () => {
  bastion1 = await startSshd();
  dir = labDir("proxyjump");
  // One client key for every hop: bastion1's.
  execFileSync("mkdir", ["-p", join(dir, "authorized")]);
  writeFileSync(join(dir, "authorized", LAB_USER), readFileSync(`${bastion1.clientKeyPath}.pub`), { mode: 0o644 });
  // A port with nothing behind it in the root namespace: the target listens there inside the namespace only.
  pt = await freePort();
  sh("ip", ["netns", "add", NS]);
  sh("ip", ["link", "add", `${VETH}a`, "type", "veth", "peer", "name", `${VETH}b`, "netns", NS]);
  sh("ip", ["addr", "add", `10.213.${X}.1/30`, "dev", `${VETH}a`]);
  sh("ip", ["link", "set", `${VETH}a`, "up"]);
  sh("ip", ["-n", NS, "addr", "add", `${BASTION2_ADDR}/30`, "dev", `${VETH}b`]);
  sh("ip", ["-n", NS, "link", "set", `${VETH}b`, "up"]);
  sh("ip", ["-n", NS, "link", "set", "lo", "up"]);
  await startNsSshd("bastion2", BASTION2_ADDR, p2, []);
  await startNsSshd("target", "127.0.0.1", pt, ["SetEnv LC_ROLE=target"]);
  const pub = (name: string) =>
    readFileSync(join(dir, `${name}_host_key.pub`), "utf8")
      .trim()
      .split(" ")
      .slice(0, 2)
      .join(" ");
  knownHosts = join(dir, "known_hosts");
  writeFileSync(
    knownHosts,
    [
      readFileSync(bastion1.knownHosts, "utf8").trim(),
      `[${BASTION2_ADDR}]:${p2} ${pub("bastion2")}`,
      `[127.0.0.1]:${pt} ${pub("target")}`,
      "",
    ].join("\n"),
  );
  sshConfig = join(dir, "ssh_config");
  writeFileSync(
    sshConfig,
    [
      "Host target-direct",
      "  HostName 127.0.0.1",
      `  Port ${pt}`,
      "Host target-one-hop",
      "  HostName 127.0.0.1",
      `  Port ${pt}`,
      "  ProxyJump bastion2",
      "Host target-two-hops",
      "  HostName 127.0.0.1",
      `  Port ${pt}`,
      "  ProxyJump bastion1,bastion2",
      "Host bastion1",
      `  HostName ${bastion1.host}`,
      `  Port ${bastion1.port}`,
      "Host bastion2",
      `  HostName ${BASTION2_ADDR}`,
      `  Port ${p2}`,
      "Host *",
      `  User ${LAB_USER}`,
      `  IdentityFile ${bastion1.clientKeyPath}`,
      "",
    ].join("\n"),
  );
}, 60_000);

afterAll(async () => {
  for (const pid of nsPids) await killPid(pid);
  // Sessions the namespace's sshds started (ours) go with it.
  try {
    for (const pid of sh("ip", ["netns", "pids", NS]).split("\n").filter(Boolean)) await killPid(Number(pid));
  } catch {
    /* no namespace */
  }
  try {
    sh("ip", ["netns", "del", NS]); // takes the veth pair with it
  } catch {
    /* never created */
  }
  if (dir && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  await bastion1?.stop();
}, 30_000);

const device = (address: string) =>
  ({
    name: address,
    kind: "host",
    site: "s",
    profile: "p",
    management: { address, transport: "ssh" },
  }) as unknown as DeviceEntry;
const access = (known = knownHosts) => ({
  knownHostsFile: known,
  acceptNewHostKey: false,
  secrets: { env: {} },
  connectTimeoutMs: 5000,
  commandTimeoutMs: 5000,
  sshConfigFile: sshConfig,
});

describe("transport: ssh_config ProxyJump (real sshd bastions, target in a network namespace)", () => {
  it("the target is not reachable directly from here", async () => {
    const pool = new SshPool();
    try {
      const e = await sshFor(device("target-direct"), pool, access())().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ConnectError);
      expect((e as Error).message).toMatch(/target-direct: cannot connect to 127\.0\.0\.1:\d+: connect ECONNREFUSED/);
    } finally {
      await pool.closeAll();
    }
  });

  it("through one jump host, the session runs on the target, in the namespace", async () => {
    const pool = new SshPool();
    try {
      const c = await sshFor(device("target-one-hop"), pool, access())();
      const [role, netns] = (await c.run("echo $LC_ROLE; readlink /proc/self/ns/net")).trim().split("\n");
      expect(role).toBe("target");
      expect(netns).not.toBe(readlinkSync("/proc/self/ns/net"));
      expect(netns).toBe(readlinkSync(`/proc/${nsPids[1]}/ns/net`));
    } finally {
      await pool.closeAll();
    }
  });

  it("through two jump hosts (ProxyJump bastion1,bastion2), and closing the device closes the hops", async () => {
    const pool = new SshPool();
    const c = await sshFor(device("target-two-hops"), pool, access())();
    expect((await c.run("echo $LC_ROLE")).trim()).toBe("target");
    // bastion1 logged the forward to bastion2 (it is the first hop).
    const log = readFileSync(join(bastion1.dir, "sshd.log"), "utf8");
    expect(log).toContain(`Accepted publickey for ${LAB_USER}`);
    await pool.closeAll();
    expect(c.isOpen).toBe(false);
  });

  it("the CLI takes the same path: discover --ssh-config reaches a host behind two jump hosts", async () => {
    const inv = join(dir, "inv.yaml");
    writeFileSync(
      inv,
      [
        "version: 1",
        "policy: default",
        "sites: [{ name: s1 }]",
        "devices:",
        "  - { name: behind, kind: host, site: s1, profile: dell-r760-xeon-6430, management: { address: target-two-hops, transport: ssh },",
        "      addresses: { ipv4: 198.51.100.9 }, nics: [{ name: eth0, profile: mlx5-connectx-7, speed: 25G, mtu: 1500 }] }",
        "",
      ].join("\n"),
    );
    const r = await cli("discover", inv, "--ssh-config", sshConfig, "--known-hosts", knownHosts, "--json");
    const facts = JSON.parse(r.out).facts.devices.behind;
    expect(facts.error?.message).toBeUndefined();
    expect(facts.reachable).toBe(true);
    // Without the config the same address is not even a resolvable host.
    const empty = join(dir, "empty_ssh_config");
    writeFileSync(empty, "");
    const direct = await cli("discover", inv, "--ssh-config", empty, "--known-hosts", knownHosts, "--json", "--timeout", "3");
    expect(JSON.parse(direct.out).facts.devices.behind.reachable).toBe(false);
  });

  it("every hop's host key is pinned: a wrong key for the jump host is refused, naming it", async () => {
    const wrong = join(dir, "known_hosts_wrong");
    const other = readFileSync(join(dir, "target_host_key.pub"), "utf8").trim().split(" ").slice(0, 2).join(" ");
    writeFileSync(wrong, readFileSync(knownHosts, "utf8").replace(/^\[10\.213[^\n]*$/m, `[${BASTION2_ADDR}]:${p2} ${other}`));
    const pool = new SshPool();
    try {
      const e = await sshFor(device("target-one-hop"), pool, access(wrong))().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(HostKeyError);
      expect((e as Error).message).toContain(`target-one-hop: jump host ${LAB_USER}@${BASTION2_ADDR}:${p2}: HOST KEY CHANGED`);
    } finally {
      await pool.closeAll();
    }
  });
});
