import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { LinkcryptError, UsageError } from "../errors.js";
import { createCa } from "../mesh/certs.js";
import type { Inventory } from "../model/inventory-schema.js";
import { labDeviceNames, labInventory, labInventoryYaml, labKnownHosts, labSecrets } from "./lab-inventory.js";

/**
 * A real lab for the host mesh: one network namespace per host, all on one bridge (in its own namespace), each
 * running its own charon with kernel-libipsec (userspace ESP over a TUN device) and a VICI socket in the lab
 * directory. Needs root, iproute2 and strongSwan's charon with the kernel-libipsec plugin.
 *
 * What this lab cannot show: libipsec does tunnel mode only (transport-mode configs are checked by loading them,
 * not by traffic), ESP is always UDP-encapsulated (port 4500), and there is no kernel xfrm, so no NIC offload.
 *
 * The lab cleans up only after itself: `lab.json` lists every file and directory `lab up` made in the lab directory
 * (`made`), and `lab down` removes exactly those, the namespaces, the processes and the lab's own SSH account; a
 * file of the user's in the directory survives, and so does the directory unless `lab up` created it. Namespace and
 * account names come from a hash of the lab directory, so labs in different directories never collide.
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
  /** Paths relative to `dir` that lab up made (files and directories), in the order made; lab down removes them. */
  made?: string[];
  /** lab up created `dir` itself (lab down then removes it, if nothing else is left in it). */
  createdDir?: boolean;
  /** The lab's own SSH account for its switches (random password), created by lab up and removed by lab down. */
  user?: string;
  password?: string;
  /** The encryptors also answer SNMP v2c (public/private); otherwise v3 authPriv only. */
  snmpV2c?: boolean;
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
  try {
    execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (e) {
    const why = String((e as { stderr?: Buffer }).stderr ?? "").trim() || (e as Error).message;
    throw new LinkcryptError("E_LAB", `ip ${args.join(" ")} failed: ${why}`, { cause: e });
  }
}

function netnsExists(name: string): boolean {
  return existsSync(join("/run/netns", name)) || existsSync(join("/var/run/netns", name));
}

/** The names a lab in `dir` gives its namespaces and account: `lc` and 8 hex digits of the directory's hash. */
export function labId(dir: string): string {
  return `lc${createHash("sha256").update(resolve(dir)).digest("hex").slice(0, 8)}`;
}

/** Names a lab gives its namespaces: lc + 8 hex digits (lc + up to 6 letters and digits before that), sw or h<n>. */
const LAB_NETNS = /^lc(?:[0-9a-f]{8}|[A-Za-z0-9]{1,6})(?:sw|h\d+)$/;
/** What a lab starts: charon (through ip netns exec), sshd, netconfd, snmpd. */
const LAB_DAEMONS = /(?:^|[/\s])(?:charon|sshd|netconfd|snmpd|ip)(?:\s|$)/;

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return "";
  }
}

/** The fixed top-level files a lab writes in its directory (besides host and peer directories). */
export const LAB_FILES = [
  "lab.json",
  "inventory.yaml",
  "known_hosts",
  "secrets.yaml",
  "mesh-master.key",
  "lab-ca.crt",
  "lab-ca.key",
] as const;

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

/** lab.json holds the lab's SNMPv3 keys and SSH password: mode 0600. */
function writeLab(s: LabState): void {
  const p = labStatePath(s.dir);
  writeFileSync(p, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
  chmodSync(p, 0o600);
}

/** Records `rel` (relative to the lab directory) as made by lab up. */
function recordMade(s: LabState, rel: string): void {
  s.made ??= [];
  if (!s.made.includes(rel)) s.made.push(rel);
  writeLab(s);
}

/**
 * Writes one of the lab's files into its directory and records it for lab down. Files that hold a key or password
 * must be given mode 0o600.
 */
export function writeLabFile(dir: string, name: (typeof LAB_FILES)[number], content: string, mode: 0o600 | 0o644): string {
  const s = readLab(dir);
  if (!s) throw new LinkcryptError("E_LAB", `no lab in ${dir}`);
  const p = join(s.dir, name);
  recordMade(s, name);
  writeFileSync(p, content, { mode });
  chmodSync(p, mode);
  return p;
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
  const p = spawn(
    "ip",
    [
      "netns",
      "exec",
      h.netns,
      "sh",
      "-c",
      `mount --bind ${join(h.dir, "run")} /run && exec env STRONGSWAN_CONF=${join(h.dir, "strongswan.conf")} ${CHARON}`,
    ],
    {
      detached: true,
      stdio: ["ignore", "ignore", "ignore"],
    },
  );
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

/** What lab up is asked for: the lab's name and directory, and the names of the hosts, switches and encryptors. */
export interface LabUpOptions {
  name: string;
  dir: string;
  hostNames: string[];
  switchNames?: string[];
  encryptorNames?: string[];
  index?: number;
  recreate?: boolean;
  snmpV2c?: boolean;
}

/**
 * Bring up a lab of `hostNames` on 10.231.<n>.0/24 (n from the lab's index). A lab that is running is refused unless
 * `recreate` is given (then it is torn down first: new ports and keys, and everything applied to it is lost); a
 * stopped one is rebuilt. Files in the directory that are not the lab's are never overwritten.
 */
export async function labUp(o: LabUpOptions): Promise<LabState> {
  checkLabPrograms(o);
  const dir = resolve(o.dir);
  await replacePreviousLab(dir, o.recreate === true);
  const { id, user } = await checkLabRoom(dir, o);
  const createdDir = !existsSync(dir);
  mkdirSync(dir, { recursive: true });
  const n = o.index ?? 1;
  const state: LabState = {
    name: o.name,
    dir,
    made: [],
    createdDir,
    bridgeNetns: `${id}sw`,
    subnet: `10.231.${n}.0/24`,
    hosts: [],
    ...(user ? { user, password: randomBytes(18).toString("base64url") } : {}),
    ...(o.snmpV2c ? { snmpV2c: true } : {}),
  };
  writeLab(state);
  try {
    ip("netns", "add", state.bridgeNetns);
    ip("-n", state.bridgeNetns, "link", "set", "lo", "up");
    ip("-n", state.bridgeNetns, "link", "add", "br0", "type", "bridge");
    ip("-n", state.bridgeNetns, "link", "set", "br0", "up");
    for (const name of o.hostNames) addHostToState(state, name);
    await Promise.all(state.hosts.map((h) => waitForSocket(h.viciSocket, `charon for ${h.name}`)));
    await startLabDevices(state, o);
  } catch (e) {
    // A half-built lab is taken down again, so that nothing of it is left behind.
    await labDown(dir).catch(() => undefined);
    throw e instanceof LinkcryptError
      ? e
      : new LinkcryptError("E_LAB", `lab up failed, and what it had started is taken down again: ${(e as Error).message}`, { cause: e });
  }
  return state;
}

/**
 * Root, charon, and every program the lab will start, checked before anything is made (a missing one would
 * otherwise fail half-way).
 */
function checkLabPrograms(o: LabUpOptions): void {
  if (process.getuid?.() !== 0) throw new LinkcryptError("E_LAB", "the lab needs root (network namespaces, charon): run it with sudo");
  if (!existsSync(CHARON))
    throw new LinkcryptError(
      "E_LAB",
      `strongSwan's charon is missing (${CHARON}): apt-get install strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins libstrongswan-extra-plugins`,
    );
  const needs = [
    ...(o.switchNames?.length
      ? [
          ["/usr/sbin/sshd", "openssh-server"],
          ["/usr/bin/ssh-keygen", "openssh-client"],
          ["/usr/sbin/netconfd", "netconfd"],
          ["/usr/sbin/netconf-subsystem", "netconfd"],
        ]
      : []),
    ...(o.encryptorNames?.length
      ? [
          ["/usr/sbin/snmpd", "snmpd"],
          ["/usr/bin/snmpget", "snmp"],
        ]
      : []),
  ].filter(([f]) => !existsSync(f!));
  if (needs.length)
    throw new LinkcryptError(
      "E_LAB",
      `the lab's switches and encryptors need ${needs.map(([f]) => f).join(", ")}: apt-get install ${[...new Set(needs.map(([, pkg]) => pkg))].join(" ")}`,
    );
}

/** A lab already in `dir` is taken down first: refused while any of it runs, unless `recreate`. */
async function replacePreviousLab(dir: string, recreate: boolean): Promise<void> {
  if (!readLab(dir)) return;
  const st = labStatus(dir);
  const running = [...st.hosts.filter((h) => h.running), ...st.devices.filter((d) => d.running)].map((x) => x.name);
  if (running.length && !recreate)
    throw new LinkcryptError(
      "E_LAB",
      `a lab is already running in ${dir} (${running.join(", ")}); linkcrypt lab down --dir ${dir} first, or lab up --recreate to rebuild it (new ports and keys: everything applied to it is lost)`,
    );
  await labDown(dir);
}

/**
 * Nothing lab up would make is there already: none of its files or host directories in `dir`, none of its
 * namespaces, and (with switches) not its SSH account. Returns the lab's id and, with switches, its account's name.
 */
async function checkLabRoom(dir: string, o: LabUpOptions): Promise<{ id: string; user: string | undefined }> {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new LinkcryptError("E_LAB", `${dir} exists and is not a directory`);
  // Never overwrite what is not the lab's: its fixed files, and a directory per host.
  const clash = [...LAB_FILES, ...o.hostNames].filter((f) => existsSync(join(dir, f)));
  if (clash.length)
    throw new LinkcryptError(
      "E_LAB",
      `${dir} already holds ${clash.map((f) => join(dir, f)).join(", ")}, which lab up would overwrite; use another --dir`,
    );
  const id = labId(dir);
  const user = o.switchNames?.length ? id : undefined;
  for (const ns of [`${id}sw`, ...o.hostNames.map((_, i) => `${id}h${i + 1}`)])
    if (netnsExists(ns))
      throw new LinkcryptError(
        "E_LAB",
        `network namespace ${ns} already exists (left by a lab in ${dir} that was not taken down?); remove it with: ip netns del ${ns}`,
      );
  if (user) {
    const { userExists } = await import("./peers.js");
    if (userExists(user))
      throw new LinkcryptError(
        "E_LAB",
        `an account named ${user} already exists; lab up makes its own and will not reuse one (left by a lab in ${dir}? remove it with: userdel -r ${user})`,
      );
  }
  return { id, user };
}

/** The lab's switches (netconfd behind sshd) and encryptors (snmpd), each recorded in lab.json as it starts. */
async function startLabDevices(state: LabState, o: LabUpOptions): Promise<void> {
  const { startNetconf, startSnmpd } = await import("./peers.js");
  if (o.switchNames?.length) checkTraversable(state.dir);
  state.switches = [];
  state.encryptors = [];
  for (const name of o.switchNames ?? []) {
    const p = await madeBy(state, () => startNetconf({ under: state.dir, user: state.user!, password: state.password! }));
    state.switches.push({
      name,
      port: p.port,
      clientKeyPath: p.clientKeyPath,
      knownHostsLine: readFileSync(p.knownHosts, "utf8").trim(),
      pids: p.pids,
    });
    writeLab(state);
  }
  for (const name of o.encryptorNames ?? []) {
    const p = await madeBy(state, () => startSnmpd({ under: state.dir, v2c: o.snmpV2c === true }));
    state.encryptors.push({ name, port: p.port, v3: { user: p.v3.user, authKey: p.v3.authKey, privKey: p.v3.privKey }, pids: p.pids });
    writeLab(state);
  }
}

/** The switches' sshd reads authorized_keys as the unprivileged lab user, who must be able to reach the lab dir. */
function checkTraversable(dir: string): void {
  for (let d = dirname(dir); d !== dirname(d); d = dirname(d))
    if ((statSync(d).mode & 0o001) === 0)
      throw new LinkcryptError(
        "E_LAB",
        `${d} is not traversable by other users (mode ${(statSync(d).mode & 0o777).toString(8)}); ` +
          "the lab's switches cannot read their keys under it: " +
          `use a --dir elsewhere (the default is under /tmp) or chmod o+x ${d}`,
      );
}

/** What `lab up INVENTORY` built: the lab, and where it wrote the files that reach it. */
export interface LabFromInventory {
  state: LabState;
  dir: string;
  /** `<dir>/inventory.yaml`: the inventory pointed at the lab. */
  inventory: string;
  knownHosts: string;
  secrets: string;
}

/**
 * `lab up INVENTORY`: a lab of the inventory's mesh hosts, switches and encryptors, then in its directory what
 * reaches it (known_hosts, secrets.yaml, a mesh master key, a lab CA when a mesh uses certificates) and
 * `inventory.yaml`, the same inventory pointed at the lab (`labInventory`), so plan, mesh deliver and verify run
 * unchanged against it.
 */
export async function labUpFromInventory(o: {
  /** The inventory's file, named in errors and in the header of the lab inventory. */
  file: string;
  inv: Inventory;
  meshHosts: ReadonlySet<string>;
  name: string;
  dir: string;
  recreate: boolean;
  snmpV2c: boolean;
}): Promise<LabFromInventory> {
  const { hosts, switches, encryptors } = labDeviceNames(o.inv, o.meshHosts);
  if (hosts.length < 2 && switches.length === 0)
    throw new UsageError(`${o.file} has no switches and fewer than two mesh hosts; nothing to build a lab from`);
  const state = await labUp({
    name: o.name,
    dir: o.dir,
    hostNames: hosts,
    switchNames: switches,
    encryptorNames: encryptors,
    recreate: o.recreate,
    snmpV2c: o.snmpV2c,
  });
  // Switch and encryptor access for plan/apply/verify against the lab. Files holding a key are 0600.
  writeLabFile(o.dir, "known_hosts", labKnownHosts(state), 0o644);
  writeLabFile(o.dir, "secrets.yaml", labSecrets(state), 0o600);
  const keyFile = writeLabFile(o.dir, "mesh-master.key", `${randomBytes(32).toString("hex")}\n`, 0o600);
  // Certificate meshes get a lab CA (never a real one).
  if (o.inv.meshes.some((m) => m.auth === "cert")) {
    const ca = createCa(`linkcrypt lab CA ${o.name}`);
    writeLabFile(o.dir, "lab-ca.crt", ca.certPem, 0o644);
    writeLabFile(o.dir, "lab-ca.key", ca.keyPem, 0o600);
  }
  const labInv = labInventory(o.inv, state, o.name, { dir: o.dir, keyFile });
  writeLabFile(o.dir, "inventory.yaml", labInventoryYaml(o.file, labInv), 0o644);
  return {
    state,
    dir: o.dir,
    inventory: join(o.dir, "inventory.yaml"),
    knownHosts: join(o.dir, "known_hosts"),
    secrets: join(o.dir, "secrets.yaml"),
  };
}

/** Runs `start` (a peer that makes its own directory in the lab directory) and records the directories it made. */
async function madeBy<T>(state: LabState, start: () => Promise<T>): Promise<T> {
  const before = new Set(readdirSync(state.dir));
  const record = () => {
    for (const f of readdirSync(state.dir)) if (!before.has(f) && /^(sshd|netconfd|snmpd)-/.test(f)) recordMade(state, f);
  };
  try {
    return await start();
  } finally {
    record();
  }
}

function addHostToState(state: LabState, name: string): LabHost {
  // Numbers are never reused, so a removed host's address stays retired.
  const k = Math.max(0, ...state.hosts.map((h) => Number(/h(\d+)$/.exec(h.netns)![1]))) + 1;
  const prefix = state.bridgeNetns.replace(/sw$/, "");
  const netns = `${prefix}h${k}`;
  const hdir = join(state.dir, name);
  if (existsSync(hdir)) throw new LinkcryptError("E_LAB", `${hdir} already exists; the lab will not write into it`);
  recordMade(state, name);
  for (const sub of ["conf.d", "x509", "x509ca", "private", "ecdsa", "rsa", "pubkey"])
    mkdirSync(join(hdir, "swanctl", sub), { recursive: true });
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

/**
 * Stops what `lab up` started and removes what it made: its processes, namespaces and SSH account, and the files and
 * directories listed in lab.json. Anything else in the directory stays, and so does the directory unless lab up
 * created it and it is now empty.
 */
export async function labDown(dir: string): Promise<string[]> {
  const s = readLab(dir);
  if (!s) return [];
  const root = resolve(dir);
  const done: string[] = [];
  const { killPid, removeLabUser } = await import("./peers.js");
  // lab.json is only trusted for what a lab makes: its own daemons, its lc<hash> namespaces and account.
  const ours = (pid: number) => LAB_DAEMONS.test(cmdline(pid));
  for (const d of [...(s.switches ?? []), ...(s.encryptors ?? [])]) {
    for (const pid of d.pids) if (ours(pid)) await killPid(pid);
    done.push(d.name);
  }
  for (const h of s.hosts) {
    if (ours(h.pid)) await killPid(h.pid);
    if (LAB_NETNS.test(h.netns)) {
      try {
        ip("netns", "del", h.netns);
      } catch {
        /* already gone */
      }
    }
    done.push(h.name);
  }
  if (LAB_NETNS.test(s.bridgeNetns)) {
    try {
      ip("netns", "del", s.bridgeNetns);
    } catch {
      /* already gone */
    }
  }
  if (s.user && s.user === labId(s.dir)) removeLabUser(s.user);
  // A lab.json from before `made` existed: what that version wrote.
  const made = s.made ?? [
    ...LAB_FILES,
    ...s.hosts.map((h) => h.name),
    ...readdirSync(root).filter((f) => /^(sshd|netconfd|snmpd)-/.test(f)),
  ];
  for (const rel of [...made].reverse()) {
    const p = resolve(root, rel);
    const r = relative(root, p);
    if (!r || r.startsWith("..") || isAbsolute(r)) continue; // only ever inside the lab directory, never the directory itself
    rmSync(p, { recursive: true, force: true });
  }
  rmSync(labStatePath(root), { force: true });
  if (s.createdDir) {
    try {
      rmdirSync(root); // only when empty
    } catch {
      /* something else lives there now: keep it */
    }
  }
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
