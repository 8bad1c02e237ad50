import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { LinkcryptError } from "../errors.js";

/**
 * A real lab for the host mesh: one network namespace per host, all on one bridge (in its own namespace), each
 * running its own charon with kernel-libipsec (userspace ESP over a TUN device) and a VICI socket in the lab
 * directory. Needs root, iproute2 and strongSwan's charon with the kernel-libipsec plugin.
 *
 * What this lab cannot show: libipsec does tunnel mode only (transport-mode configs are checked by loading them,
 * not by traffic), ESP is always UDP-encapsulated (port 4500), and there is no kernel xfrm, so no NIC offload.
 */
export interface LabHost {
  name: string;
  netns: string;
  address: string;
  dir: string;
  viciSocket: string;
  pid: number;
}

export interface LabSwitch {
  name: string;
  port: number;
  clientKeyPath: string;
  knownHostsLine: string;
  pids: number[];
}

export interface LabEncryptor {
  name: string;
  port: number;
  v3: { user: string; authKey: string; privKey: string };
  pids: number[];
}

export interface LabState {
  name: string;
  dir: string;
  bridgeNetns: string;
  subnet: string;
  hosts: LabHost[];
  /** netconfd "switches" (OpenConfig MACsec model) and snmpd "L1 encryptors" on loopback. */
  switches?: LabSwitch[];
  encryptors?: LabEncryptor[];
}

const CHARON = "/usr/lib/ipsec/charon";
const PLUGINS =
  "random nonce openssl pem pkcs1 pkcs8 x509 pubkey revocation constraints kdf gcm aes sha1 sha2 hmac curve25519 kernel-libipsec kernel-netlink socket-default vici updown";

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \([^)]*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

export function labStatePath(dir: string): string {
  return join(dir, "lab.json");
}

export function readLab(dir: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(labStatePath(dir), "utf8")) as LabState;
  } catch {
    return undefined;
  }
}

function writeLab(s: LabState): void {
  writeFileSync(labStatePath(s.dir), `${JSON.stringify(s, null, 2)}\n`);
}

export function strongswanConf(h: { dir: string; viciSocket: string }): string {
  return `# linkcrypt lab: pass as STRONGSWAN_CONF to charon and swanctl
charon {
  load = ${PLUGINS}
  # ESP in userspace over TUN; the kernel here has no ESP.
  plugins {
    vici { socket = unix://${h.viciSocket} }
    kernel-libipsec { allow_peer_ts = yes }
    # Traffic selectors are the hosts' own addresses, so charon's own IKE/ESP-in-UDP packets are marked and kept
    # out of the libipsec routing table.
    socket-default { fwmark = 0x42 }
    kernel-netlink { fwmark = !0x42 }
  }
  filelog {
    main { path = ${join(h.dir, "charon.log")}
      time_format = %T
      default = 1
      ike = 2
      flush_line = yes }
  }
  syslog { daemon { default = -1 } }
}
`;
}

/** Start charon in a host's namespace with a private /run (its pidfile is fixed at /var/run/charon.pid). */
export function startCharon(h: Omit<LabHost, "pid">): number {
  mkdirSync(join(h.dir, "run"), { recursive: true });
  rmSync(h.viciSocket, { force: true });
  const log = join(h.dir, "charon.out");
  const p = spawn("ip", ["netns", "exec", h.netns, "sh", "-c", `mount --bind ${join(h.dir, "run")} /run && exec env STRONGSWAN_CONF=${join(h.dir, "strongswan.conf")} ${CHARON}`], {
    detached: true,
    stdio: ["ignore", "ignore", "ignore"],
  });
  p.unref();
  writeFileSync(log, `started pid ${p.pid}\n`);
  return p.pid!;
}

export async function waitForSocket(path: string, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > until) throw new LinkcryptError("E_LAB", `${what} did not come up within ${timeoutMs} ms (no ${path})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Bring up a lab of `hostNames` on 10.231.<n>.0/24 (n from the lab's index). Idempotent for a stopped lab. */
export async function labUp(o: { name: string; dir: string; hostNames: string[]; switchNames?: string[]; encryptorNames?: string[]; index?: number }): Promise<LabState> {
  if (process.getuid?.() !== 0) throw new LinkcryptError("E_LAB", "the lab needs root (network namespaces, charon): run it with sudo");
  if (!existsSync(CHARON)) throw new LinkcryptError("E_LAB", `strongSwan's charon is missing (${CHARON}): apt-get install strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins libstrongswan-extra-plugins`);
  if (readLab(o.dir)) await labDown(o.dir);
  mkdirSync(o.dir, { recursive: true });
  const n = o.index ?? 1;
  const short = o.name.replace(/[^a-z0-9]/gi, "").slice(0, 6) || "lab";
  const state: LabState = { name: o.name, dir: o.dir, bridgeNetns: `lc${short}sw`, subnet: `10.231.${n}.0/24`, hosts: [] };
  ip("netns", "add", state.bridgeNetns);
  writeLab(state);
  ip("-n", state.bridgeNetns, "link", "set", "lo", "up");
  ip("-n", state.bridgeNetns, "link", "add", "br0", "type", "bridge");
  ip("-n", state.bridgeNetns, "link", "set", "br0", "up");
  for (const name of o.hostNames) addHostToState(state, name);
  await Promise.all(state.hosts.map((h) => waitForSocket(h.viciSocket, `charon for ${h.name}`)));
  const { startNetconf, startSnmpd } = await import("./peers.js");
  if (o.switchNames?.length) {
    // The switches' sshd reads authorized_keys as the unprivileged lab user, who must be able to reach the lab dir.
    for (let d = dirname(o.dir); d !== dirname(d); d = dirname(d))
      if ((statSync(d).mode & 0o001) === 0)
        throw new LinkcryptError("E_LAB", `${d} is not traversable by other users (mode ${(statSync(d).mode & 0o777).toString(8)}); the lab's switches cannot read their keys under it: use a --dir elsewhere (the default is under /tmp) or chmod o+x ${d}`);
  }
  state.switches = [];
  state.encryptors = [];
  for (const name of o.switchNames ?? []) {
    const p = await startNetconf({ under: o.dir });
    state.switches.push({ name, port: p.port, clientKeyPath: p.clientKeyPath, knownHostsLine: readFileSync(p.knownHosts, "utf8").trim(), pids: p.pids });
    writeLab(state);
  }
  for (const name of o.encryptorNames ?? []) {
    const p = await startSnmpd({ under: o.dir });
    state.encryptors.push({ name, port: p.port, v3: { user: p.v3.user, authKey: p.v3.authKey, privKey: p.v3.privKey }, pids: p.pids });
    writeLab(state);
  }
  return state;
}

function addHostToState(state: LabState, name: string): LabHost {
  // Numbers are never reused, so a removed host's address stays retired.
  const k = Math.max(0, ...state.hosts.map((h) => Number(/h(\d+)$/.exec(h.netns)![1]))) + 1;
  const prefix = state.bridgeNetns.replace(/sw$/, "");
  const netns = `${prefix}h${k}`;
  const hdir = join(state.dir, name);
  for (const sub of ["conf.d", "x509", "x509ca", "private", "ecdsa", "rsa", "pubkey"]) mkdirSync(join(hdir, "swanctl", sub), { recursive: true });
  const base = state.subnet.replace(/\.0\/24$/, "");
  const host: Omit<LabHost, "pid"> = { name, netns, address: `${base}.${k}`, dir: hdir, viciSocket: join(hdir, "charon.vici") };
  ip("netns", "add", netns);
  ip("-n", netns, "link", "set", "lo", "up");
  ip("link", "add", "eth0", "netns", netns, "type", "veth", "peer", "name", `p${k}`, "netns", state.bridgeNetns);
  ip("-n", state.bridgeNetns, "link", "set", `p${k}`, "master", "br0", "up");
  ip("-n", netns, "addr", "add", `${host.address}/24`, "dev", "eth0");
  ip("-n", netns, "link", "set", "eth0", "up");
  writeFileSync(join(hdir, "strongswan.conf"), strongswanConf(host));
  const added = { ...host, pid: startCharon(host) };
  state.hosts.push(added);
  writeLab(state);
  return added;
}

/** Add one more host (namespace + charon) to a running lab. */
export async function labAddHost(dir: string, name: string): Promise<LabHost> {
  const state = readLab(dir);
  if (!state) throw new LinkcryptError("E_LAB", `no lab in ${dir}`);
  if (state.hosts.some((h) => h.name === name)) throw new LinkcryptError("E_LAB", `the lab already has a host "${name}"`);
  const h = addHostToState(state, name);
  await waitForSocket(h.viciSocket, `charon for ${name}`);
  return h;
}

export async function labDown(dir: string): Promise<string[]> {
  const s = readLab(dir);
  if (!s) return [];
  const done: string[] = [];
  const { killPid } = await import("./peers.js");
  for (const d of [...(s.switches ?? []), ...(s.encryptors ?? [])]) {
    for (const pid of d.pids) await killPid(pid);
    done.push(d.name);
  }
  for (const h of s.hosts) {
    if (alive(h.pid)) {
      try {
        process.kill(h.pid, "SIGTERM");
      } catch {
        /* already gone */
      }
      for (let i = 0; i < 50 && alive(h.pid); i++) await new Promise((r) => setTimeout(r, 100));
      if (alive(h.pid)) process.kill(h.pid, "SIGKILL");
    }
    try {
      ip("netns", "del", h.netns);
    } catch {
      /* already gone */
    }
    done.push(h.name);
  }
  try {
    ip("netns", "del", s.bridgeNetns);
  } catch {
    /* already gone */
  }
  rmSync(dir, { recursive: true, force: true });
  return done;
}

export function labStatus(dir: string): {
  state: LabState | undefined;
  hosts: { name: string; running: boolean; vici: boolean }[];
  devices: { name: string; kind: "switch" | "l1-encryptor"; running: boolean }[];
} {
  const s = readLab(dir);
  return {
    state: s,
    hosts: (s?.hosts ?? []).map((h) => ({ name: h.name, running: alive(h.pid), vici: existsSync(h.viciSocket) })),
    devices: [
      ...(s?.switches ?? []).map((x) => ({ name: x.name, kind: "switch" as const, running: x.pids.every(alive) })),
      ...(s?.encryptors ?? []).map((x) => ({ name: x.name, kind: "l1-encryptor" as const, running: x.pids.every(alive) })),
    ],
  };
}
