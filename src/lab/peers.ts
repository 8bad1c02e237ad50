/**
 * Real peers for the lab and the integration tests: OpenSSH sshd (hosts), netconfd behind a private sshd
 * (switches), and snmpd with a pass_persist agent (L1 encryptors). Each instance gets its own directory, port and
 * pids; `stop()` kills exactly what it started and waits until it is gone. The processes are detached, so a lab
 * started by `linkcrypt lab up` outlives the command; `pids` lets `lab down` stop them later.
 *
 * Needs root (sshd checks passwords against /etc/shadow; a lab account is created) and the Debian packages that
 * test/lab/ensure-peers.sh installs. Passwords and SNMPv3 keys are random for each process (tests) or lab, and every
 * file that holds one is mode 0600.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  openSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { prepareLabModels, type LabModelSet } from "./lab-models.js";

/**
 * The test peers' SSH account: one per process (`lct<pid>`), created when its first peer starts and removed when its
 * last one stops, or when the process exits. `linkcrypt lab up` makes one of its own per lab (removed by `lab down`).
 */
export const LAB_USER = `lct${process.pid}`;
let testUserPeers = 0;
let testUserExitHook = false;

/** Counts a peer that logs in as LAB_USER; the returned function releases it (the last release removes the account). */
function holdTestUser(user: string): () => void {
  if (user !== LAB_USER) return () => undefined;
  testUserPeers++;
  if (!testUserExitHook) {
    testUserExitHook = true;
    process.once("exit", () => {
      try {
        removeLabUser(LAB_USER);
      } catch {
        /* best effort at exit */
      }
    });
  }
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    if (--testUserPeers === 0) removeLabUser(LAB_USER);
  };
}
/** Random for each process: set on the account whenever a peer starts. */
export const LAB_PASSWORD = randomBytes(18).toString("base64url");
const HERE = fileURLToPath(new URL(".", import.meta.url));

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error("the real-peer lab needs root (sshd, useradd): run the tests as root, e.g. sudo npm test");
}

/** Makes `user` exist with `password` (sshd runs the netconf subsystem and ForceCommand through its shell, /bin/sh). */
export function ensureLabUser(user = LAB_USER, password = LAB_PASSWORD): void {
  requireRoot();
  if (!userExists(user))
    execFileSync("useradd", ["-m", "-s", "/bin/sh", "-c", "linkcrypt lab", user], { stdio: ["ignore", "ignore", "pipe"] });
  execFileSync("chpasswd", { input: `${user}:${password}\n` });
}

export function userExists(user: string): boolean {
  try {
    execFileSync("id", [user], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Removes a lab account and its home (forced: a session that outlived its sshd must not keep it). */
export function removeLabUser(user: string): void {
  if (!userExists(user)) return;
  execFileSync("userdel", ["-f", "-r", user], { stdio: ["ignore", "ignore", "pipe"] });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

export function labDir(name: string, under?: string): string {
  const d = under ? mkdtempSync(join(under, `${name}-`)) : mkdtempSync(join(tmpdir(), `linkcrypt-lab-${name}-`));
  // sshd reads authorized_keys as the logged-in (non-root) user, so the tree must be traversable.
  chmodSync(d, 0o755);
  return d;
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, log: () => string, timeoutMs = 8000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not come up within ${timeoutMs} ms:\n${log()}`);
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}

function pidAlive(pid: number): boolean {
  try {
    return !/^\d+ \([^)]*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** Stop a process by pid (ours or a previous command's) and wait until it is really gone. */
export async function killPid(pid: number): Promise<void> {
  if (!pidAlive(pid)) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  for (let i = 0; i < 60 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  if (pidAlive(pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
    for (let i = 0; i < 40 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  }
}

/** A daemon that keeps running after this process exits; output goes to `log`. */
function daemon(cmd: string, args: string[], log: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const fd = openSync(log, "a");
  const p = spawn(cmd, args, { env, stdio: ["ignore", fd, fd], detached: true });
  closeSync(fd);
  // A program that cannot start (ENOENT) must not take the whole process down: the caller's wait reports it.
  p.once("error", (e) => writeFileSync(log, `cannot start ${cmd}: ${e.message}\n`, { flag: "a" }));
  p.unref();
  return p;
}

function keygen(path: string, comment: string): void {
  if (!existsSync(path)) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path]);
}

export interface SshdPeer {
  host: string;
  port: number;
  dir: string;
  /** The server's public host key line ("ssh-ed25519 AAAA..."). */
  hostKeyPub: string;
  clientKeyPath: string;
  /** A known_hosts file that pins this server. */
  knownHosts: string;
  /** Every process this peer runs, for stopping it from another command. */
  pids: number[];
  stop(): Promise<void>;
}

/**
 * A throwaway OpenSSH server on 127.0.0.1. `netconfSocket` wires its `netconf` subsystem to a netconfd;
 * `forceCommand` makes every session run that command (used for the EOS CLI stand-in).
 */
export async function startSshd(
  o: { netconfSocket?: string; port?: number; forceCommand?: string; under?: string; user?: string; password?: string } = {},
): Promise<SshdPeer> {
  const user = o.user ?? LAB_USER;
  const release = holdTestUser(user); // held before the account is ensured, so another peer's stop cannot remove it meanwhile
  ensureLabUser(user, o.password);
  const dir = labDir("sshd", o.under);
  const port = o.port ?? (await freePort());
  mkdirSync("/run/sshd", { recursive: true });
  keygen(join(dir, "host_key"), "linkcrypt-lab-host");
  keygen(join(dir, "client_key"), "linkcrypt-lab-client");
  mkdirSync(join(dir, "authorized"), { recursive: true });
  writeFileSync(join(dir, "authorized", user), readFileSync(join(dir, "client_key.pub")), { mode: 0o644 });
  const cfg = [
    `Port ${port}`,
    "ListenAddress 127.0.0.1",
    `HostKey ${join(dir, "host_key")}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    "UsePAM no",
    "PasswordAuthentication yes",
    "KbdInteractiveAuthentication no",
    "PubkeyAuthentication yes",
    `AuthorizedKeysFile ${join(dir, "authorized")}/%u`,
    "StrictModes no",
    "PermitRootLogin no",
    `AllowUsers ${user}`,
    "AllowStreamLocalForwarding yes",
    "MaxStartups 100:30:200",
    "LogLevel VERBOSE",
    ...(o.netconfSocket ? [`Subsystem netconf /usr/sbin/netconf-subsystem --ncxserver-sockname=${port}@${o.netconfSocket}`] : []),
    ...(o.forceCommand ? [`ForceCommand ${o.forceCommand}`] : []),
  ];
  writeFileSync(join(dir, "sshd_config"), `${cfg.join("\n")}\n`);
  const log = join(dir, "sshd.log");
  const p = daemon("/usr/sbin/sshd", ["-D", "-e", "-f", join(dir, "sshd_config")], log);
  await waitFor(
    `sshd on port ${port}`,
    () => tcpOpen(port),
    () => (existsSync(log) ? readFileSync(log, "utf8").slice(-4000) : ""),
  );
  const hostKeyPub = readFileSync(join(dir, "host_key.pub"), "utf8").trim().split(" ").slice(0, 2).join(" ");
  const knownHosts = join(dir, "known_hosts");
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostKeyPub}\n`);
  return {
    host: "127.0.0.1",
    port,
    dir,
    hostKeyPub,
    clientKeyPath: join(dir, "client_key"),
    knownHosts,
    pids: [p.pid!],
    stop: async () => {
      await killPid(p.pid!);
      rmSync(dir, { recursive: true, force: true });
      release();
    },
  };
}

export interface NetconfPeer extends SshdPeer {
  netconfdLog: string;
}

/** netconfd (yuma123) serving openconfig-macsec 1.2.0, openconfig-keychain 0.5.0 and the Junos security-macsec schema (src/lab/models), behind its own sshd. */
export async function startNetconf(
  o: { extraArgs?: string[]; under?: string; user?: string; password?: string; models?: LabModelSet } = {},
): Promise<NetconfPeer> {
  const user = o.user ?? LAB_USER;
  ensureLabUser(user, o.password);
  const dir = labDir("netconfd", o.under);
  const port = await freePort();
  const sock = join(dir, "ncxserver.sock");
  writeFileSync(join(dir, "startup.xml"), '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"/>\n');
  // The vendors' published models plus the documented lab deviations (src/lab/models/LAB-DEVIATIONS.md).
  const models = prepareLabModels(join(dir, "yang"), o.models);
  const args = [
    `--port=${port}`,
    `--ncxserver-sockname=${sock}`,
    `--modpath=${models.modpath}:/usr/share/yuma/modules`,
    ...models.modules.map((m) => `--module=${m}`),
    `--startup=${join(dir, "startup.xml")}`,
    `--superuser=${user}`,
    `--log=${join(dir, "netconfd.log")}`,
    "--log-level=info",
    ...(o.extraArgs ?? []),
  ];
  const nc = daemon("/usr/sbin/netconfd", args, join(dir, "netconfd.out"), { ...process.env, HOME: dir });
  await waitFor(
    "netconfd",
    () => existsSync(sock),
    () => {
      const readIfThere = (file: string) => (existsSync(file) ? readFileSync(file, "utf8") : "");
      return `${readIfThere(join(dir, "netconfd.out"))}\n${readIfThere(join(dir, "netconfd.log"))}`;
    },
  );
  const sshd = await startSshd({
    netconfSocket: sock,
    port,
    user,
    ...(o.password ? { password: o.password } : {}),
    ...(o.under ? { under: o.under } : {}),
  });
  return {
    ...sshd,
    pids: [...sshd.pids, nc.pid!],
    netconfdLog: join(dir, "netconfd.log"),
    stop: async () => {
      await sshd.stop();
      await killPid(nc.pid!);
      if (!process.env.LINKCRYPT_KEEP_LAB_LOGS) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SnmpPeer {
  host: string;
  port: number;
  stateFile: string;
  v3: { user: string; authKey: string; privKey: string; roUser: string; roAuthKey: string; roPrivKey: string };
  pids: number[];
  stop(): Promise<void>;
}

/**
 * net-snmp's snmpd with the lab's pass_persist L1-encryptor agent. It answers SNMPv3 authPriv only, with random keys;
 * `v2c: true` also opens the communities public (read) and private (write) on 127.0.0.1.
 */
export async function startSnmpd(o: { under?: string; v2c?: boolean } = {}): Promise<SnmpPeer> {
  const dir = labDir("snmpd", o.under);
  const port = await freePort();
  const state = join(dir, "state.json");
  const key = () => randomBytes(16).toString("hex");
  const v3 = { user: "l1admin", authKey: key(), privKey: key(), roUser: "l1ro", roAuthKey: key(), roPrivKey: key() };
  mkdirSync(join(dir, "persist"), { recursive: true, mode: 0o700 });
  writeFileSync(
    join(dir, "snmpd.conf"),
    [
      `agentAddress udp:127.0.0.1:${port}`,
      ...(o.v2c ? ["rocommunity public 127.0.0.1", "rwcommunity private 127.0.0.1"] : []),
      `createUser ${v3.user} SHA "${v3.authKey}" AES "${v3.privKey}"`,
      `rwuser ${v3.user} priv`,
      `createUser ${v3.roUser} SHA-256 "${v3.roAuthKey}" AES "${v3.roPrivKey}"`,
      `rouser ${v3.roUser} priv`,
      "sysName lab-l1enc",
      "sysDescr linkcrypt lab L1 encryptor (snmpd pass_persist)",
      `pass_persist .1.3.6.1.4.1.8072.9999.9999.1 /usr/bin/env L1_STATE=${state} ${process.execPath} ${join(HERE, "l1-agent.mjs")}`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  const p = daemon(
    "/usr/sbin/snmpd",
    [
      "-f",
      "-C",
      "-c",
      join(dir, "snmpd.conf"),
      "-Lf",
      join(dir, "snmpd.log"),
      "-p",
      join(dir, "snmpd.pid"),
      "-I",
      "-smux,mteTrigger,mteTriggerConf",
    ],
    join(dir, "snmpd.out"),
    { ...process.env, SNMP_PERSISTENT_DIR: join(dir, "persist"), MIBS: "" },
  );
  await waitFor(
    `snmpd on udp ${port}`,
    () => {
      try {
        const auth = ["-v3", "-l", "authPriv", "-u", v3.roUser, "-a", "SHA-256", "-A", v3.roAuthKey, "-x", "AES", "-X", v3.roPrivKey];
        execFileSync("snmpget", [...auth, "-t", "0.2", "-r", "0", `127.0.0.1:${port}`, ".1.3.6.1.2.1.1.5.0"], {
          stdio: "ignore",
          env: { ...process.env, MIBS: "" },
        });
        return true;
      } catch {
        return false;
      }
    },
    () => (existsSync(join(dir, "snmpd.log")) ? readFileSync(join(dir, "snmpd.log"), "utf8") : ""),
  );
  return {
    host: "127.0.0.1",
    port,
    stateFile: state,
    v3,
    pids: [p.pid!],
    stop: async () => {
      await killPid(p.pid!);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The lab's EOS CLI stand-in (src/lab/eos-cli.mjs) behind a real sshd: it plays the configuration-session
 * behaviour the eos-macsec driver relies on. It is not EOS.
 */
export async function startEosStandin(): Promise<SshdPeer & { stateFile: string }> {
  const release = holdTestUser(LAB_USER); // the account must outlive the chown below until this peer stops
  ensureLabUser();
  const dir = labDir("eos");
  const stateFile = join(dir, "eos-state.json");
  writeFileSync(stateFile, JSON.stringify({ running: [], sessions: {}, linkUp: true }));
  // The CLI runs as the lab user, who may not be able to reach the checkout (e.g. a 0700 temp clone): copy it.
  copyFileSync(join(HERE, "eos-cli.mjs"), join(dir, "eos-cli.mjs"));
  execFileSync("chown", ["-R", `${LAB_USER}`, dir]);
  const sshd = await startSshd({ forceCommand: `env EOS_STATE=${stateFile} ${process.execPath} ${join(dir, "eos-cli.mjs")}` });
  return {
    ...sshd,
    stateFile,
    stop: async () => {
      await sshd.stop();
      rmSync(dir, { recursive: true, force: true });
      release();
    },
  };
}
