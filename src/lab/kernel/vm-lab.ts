import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { LinkcryptError } from "../../errors.js";
import { guestExec, guestReady, type ExecResult } from "./qga.js";

/**
 * The kernel-datapath lab: one QEMU VM per mesh host, each booting Debian's bookworm-backports kernel under TCG
 * (software emulation; this machine's /dev/kvm cannot run stock kernels). The VMs have no disk: the host's root is
 * shared read-only over 9p with a RAM overlay, so they run this machine's charon, sshd, iproute2 and ethtool on their
 * own kernel, with real xfrm, ESP and MACsec.
 *
 * Each VM has two NICs:
 * - `mesh0`, a tap on a bridge inside the lab's own network namespace: the only segment mesh traffic crosses, and
 *   where tests capture the wire;
 * - `mgmt0`, QEMU user networking with `restrict=on` and one forward: 127.0.0.1:<port> on this machine to the VM's
 *   sshd. The controller reaches each VM like the lab's other peers, over loopback, through SSH (and VICI over SSH
 *   streamlocal, the production path). Nothing is added to this machine's network namespace.
 * A host whose NIC offloads ESP also gets a netdevsim port holding its mesh address (see guest-init.sh).
 *
 * Control of the VMs themselves goes through qemu-guest-agent on a virtio-serial socket.
 */
export interface KernelVm {
  name: string;
  index: number;
  address: string;
  meshMac: string;
  mgmtMac: string;
  sshPort: number;
  tap: string;
  nsim: boolean;
  dir: string;
}

export interface KernelLabState {
  datapath: "kernel";
  name: string;
  dir: string;
  netns: string;
  subnet: string;
  kernel: { version: string; root: string };
  memMb: number;
  clientKey: string;
  knownHosts: string;
  vms: KernelVm[];
  /** Everything this lab created under `dir`, so `down` removes exactly that. */
  created: string[];
}

const HERE = dirname(fileURLToPath(import.meta.url));
export const KERNEL_LAB_CACHE = process.env.LINKCRYPT_KLAB_CACHE ?? "/var/cache/linkcrypt-kernel-lab";
const INITRD_MODULES = ["virtio_net", "virtio_console", "9pnet_virtio", "9p", "overlay"];
const SUBNET_BASE = "10.77.0";

function sh(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0)
    throw new LinkcryptError(
      "E_LAB",
      `${what}: ${cmd} ${args.join(" ")} failed: ${(r.stderr || r.stdout || String(r.error ?? "")).trim()}`,
    );
  return r.stdout;
}

/** The kernel and netdevsim, prepared (and cached) by prepare.sh. */
export function prepareKernel(): { version: string; root: string } {
  const r = spawnSync("bash", [join(HERE, "prepare.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const m = /KVER=(\S+) KROOT=(\S+)/.exec(r.stdout ?? "");
  if (r.status !== 0 || !m)
    throw new LinkcryptError("E_LAB", `preparing the lab kernel failed (run: sudo bash ${join(HERE, "prepare.sh")})`);
  return { version: m[1]!, root: m[2]! };
}

/** A busybox initramfs holding the modules that reach the 9p root; built once per lab. */
function buildInitramfs(kernel: { version: string; root: string }, out: string): void {
  const work = `${out}.d`;
  rmSync(work, { recursive: true, force: true });
  for (const d of ["bin", "mods", "proc", "sys", "dev", "host", "ram", "newroot"]) mkdirSync(join(work, d), { recursive: true });
  copyFileSync("/bin/busybox", join(work, "bin", "busybox"));
  chmodSync(join(work, "bin", "busybox"), 0o755);
  copyFileSync(join(HERE, "initramfs-init.sh"), join(work, "init"));
  chmodSync(join(work, "init"), 0o755);
  const deps = sh(
    "modprobe",
    ["-a", "-d", kernel.root, "-S", kernel.version, "--show-depends", ...INITRD_MODULES],
    "resolving initramfs modules",
  );
  const order: string[] = [];
  for (const line of deps.split("\n")) {
    const m = /^insmod (\S+)/.exec(line);
    if (!m) continue;
    const base = m[1]!
      .split("/")
      .pop()!
      .replace(/\.xz$/, "")
      .replace(/\.zst$/, "");
    if (order.includes(base)) continue;
    order.push(base);
    const src = m[1]!.startsWith(kernel.root) ? m[1]! : join(kernel.root, m[1]!);
    if (src.endsWith(".xz")) writeFileSync(join(work, "mods", base), execFileSync("xz", ["-dc", src], { maxBuffer: 64 << 20 }));
    else copyFileSync(src, join(work, "mods", base));
  }
  writeFileSync(join(work, "modules.list"), `${order.join("\n")}\n`);
  execFileSync("sh", ["-c", `cd '${work}' && find . | cpio -o -H newc --quiet | gzip -1 > '${out}'`]);
  rmSync(work, { recursive: true, force: true });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

export function labNetnsName(name: string): string {
  return `lck${createHash("sha256").update(name).digest("hex").slice(0, 8)}`;
}

export function kernelLabStatePath(dir: string): string {
  return join(dir, "lab.json");
}

export function readKernelLab(dir: string): KernelLabState | undefined {
  try {
    const s = JSON.parse(readFileSync(kernelLabStatePath(dir), "utf8")) as KernelLabState;
    return s.datapath === "kernel" ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Record a file the lab wrote into its directory (the CLI's inventory, keys), so `down` removes it too. */
export function recordCreated(s: KernelLabState, file: string): void {
  if (!s.created.includes(file)) s.created.push(file);
  save(s);
}

function save(s: KernelLabState): void {
  writeFileSync(kernelLabStatePath(s.dir), `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
}

function guestStrongswanConf(): string {
  return `# kernel lab guest: charon on kernel-netlink (real xfrm), VICI on its default socket
charon {
  load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey revocation constraints kdf gcm aes sha1 sha2 hmac curve25519 kernel-netlink socket-default vici updown
  # Faster failure detection than the defaults (5 tries, about 165 s), yet patient with TCG's slow ECP-384 (about
  # a second per exchange under load): an unanswered exchange fails after 2+3+4.5+6.75+10.1 = about 26 s.
  retransmit_timeout = 2.0
  retransmit_base = 1.5
  retransmit_tries = 4
  filelog {
    lab {
      path = /lab/charon.log
      time_format = %T
      default = 1
      ike = 2
      knl = 1
      flush_line = yes
    }
  }
  syslog { daemon { default = -1 } }
}
`;
}

const SSHD_CONFIG = `# kernel lab guest sshd: management NIC only, key auth for root, VICI reachable by streamlocal forwarding
Port 22
ListenAddress 10.0.2.15
HostKey /lab/ssh_host_ed25519_key
AuthorizedKeysFile /lab/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile /run/sshd.pid
AllowStreamLocalForwarding yes
AllowTcpForwarding local
X11Forwarding no
PrintMotd no
`;

function vmDir(s: KernelLabState, name: string): string {
  return join(s.dir, "vm", name);
}

/** Files of one VM: its share (guest scripts, sshd and charon configs, persistent swanctl dir). */
async function provisionVm(s: KernelLabState, name: string, nsim: boolean): Promise<KernelVm> {
  const index = Math.max(0, ...s.vms.map((v) => v.index)) + 1;
  if (index > 200) throw new LinkcryptError("E_LAB", "the kernel lab has room for 200 VMs");
  const dir = vmDir(s, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const sub of ["conf.d", "x509", "x509ca", "private", "ecdsa", "rsa", "pubkey"])
    mkdirSync(join(dir, "swanctl", sub), { recursive: true });
  writeFileSync(join(dir, "swanctl", "swanctl.conf"), "include conf.d/*.conf\n");
  copyFileSync(join(HERE, "guest-init.sh"), join(dir, "guest-init.sh"));
  writeFileSync(join(dir, "strongswan.conf"), guestStrongswanConf());
  writeFileSync(join(dir, "sshd_config"), SSHD_CONFIG);
  copyFileSync(`${s.clientKey}.pub`, join(dir, "authorized_keys"));
  execFileSync("ssh-keygen", [
    "-q",
    "-t",
    "ed25519",
    "-N",
    "",
    "-C",
    `${name}@linkcrypt-kernel-lab`,
    "-f",
    join(dir, "ssh_host_ed25519_key"),
  ]);
  const hex = index.toString(16).padStart(2, "0");
  const vm: KernelVm = {
    name,
    index,
    address: `${SUBNET_BASE}.${10 + index}`,
    meshMac: `52:54:00:4c:00:${hex}`,
    mgmtMac: `52:54:00:4d:00:${hex}`,
    sshPort: await freePort(),
    tap: `${s.netns.slice(3, 9)}t${index}`,
    nsim,
    dir,
  };
  writeFileSync(
    join(dir, "guest.env"),
    [
      `NAME=${name}`,
      `MESH_MAC=${vm.meshMac}`,
      `MGMT_MAC=${vm.mgmtMac}`,
      `MESH_ADDR=${vm.address}`,
      "MESH_PREFIX=24",
      `MESH_NET=${SUBNET_BASE}.0/24`,
      `NSIM=${nsim ? 1 : 0}`,
      `NSIM_ID=${index}`,
      "MESH_MTU=1500",
      "",
    ].join("\n"),
  );
  const pub = readFileSync(join(dir, "ssh_host_ed25519_key.pub"), "utf8").trim().split(" ").slice(0, 2).join(" ");
  const lines = existsSync(s.knownHosts)
    ? readFileSync(s.knownHosts, "utf8")
        .split("\n")
        .filter((l) => l && !l.startsWith(`[127.0.0.1]:${vm.sshPort} `))
    : [];
  writeFileSync(s.knownHosts, `${[...lines, `[127.0.0.1]:${vm.sshPort} ${pub}`].join("\n")}\n`);
  return vm;
}

/** Start (or restart, after a "reboot") one VM and wait until its guest agent answers. */
export async function bootVm(s: KernelLabState, vm: KernelVm, timeoutMs = 120_000): Promise<number> {
  const t0 = Date.now();
  const pidfile = join(vm.dir, "qemu.pid");
  rmSync(pidfile, { force: true });
  rmSync(join(vm.dir, "qga.sock"), { force: true });
  // The tap is made here, opened by QEMU here (so its user-net forward binds this machine's loopback), then moved
  // into the lab's namespace and onto the bridge.
  spawnSync("ip", ["link", "del", vm.tap], { stdio: "ignore" });
  spawnSync("ip", ["-n", s.netns, "link", "del", vm.tap], { stdio: "ignore" });
  sh("ip", ["tuntap", "add", "dev", vm.tap, "mode", "tap"], `tap for ${vm.name}`);
  const kimg = join(s.kernel.root, "boot", `vmlinuz-${s.kernel.version}`);
  const args = [
    // Westmere: AES-NI and PCLMULQDQ without AVX. With `-cpu max` QEMU 7.2's TCG offers AVX2/VAES, the 6.12 kernel
    // then picks its VAES AES-GCM code, and a guest died of slab corruption under IPsec load.
    "-name",
    `linkcrypt-klab-${s.name}-${vm.name}`,
    "-accel",
    "tcg,tb-size=64",
    "-cpu",
    "Westmere",
    "-m",
    String(s.memMb),
    "-smp",
    "1",
    "-display",
    "none",
    "-no-reboot",
    "-monitor",
    "none",
    "-serial",
    `file:${join(vm.dir, "console.log")}`,
    "-kernel",
    kimg,
    "-initrd",
    join(s.dir, "initrd.gz"),
    "-append",
    `console=ttyS0 panic=-1 quiet klab.moddir=${join(s.kernel.root, "lib", "modules")}`,
    "-virtfs",
    "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
    "-virtfs",
    `local,path=${vm.dir},mount_tag=lab,security_model=none,multidevs=remap`,
    "-chardev",
    `socket,id=qga,path=${join(vm.dir, "qga.sock")},server=on,wait=off`,
    "-device",
    "virtio-serial-pci",
    "-device",
    "virtserialport,chardev=qga,name=org.qemu.guest_agent.0",
    "-netdev",
    `tap,id=mesh,ifname=${vm.tap},script=no,downscript=no`,
    "-device",
    `virtio-net-pci,netdev=mesh,mac=${vm.meshMac}`,
    "-netdev",
    `user,id=mgmt,restrict=on,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:${vm.sshPort}-10.0.2.15:22`,
    "-device",
    `virtio-net-pci,netdev=mgmt,mac=${vm.mgmtMac}`,
    "-pidfile",
    pidfile,
    "-daemonize",
  ];
  sh("qemu-system-x86_64", args, `starting VM ${vm.name}`);
  sh("ip", ["link", "set", vm.tap, "netns", s.netns], `moving ${vm.tap} into ${s.netns}`);
  sh("ip", ["-n", s.netns, "link", "set", vm.tap, "master", "br0", "up"], `bridging ${vm.tap}`);
  const sock = join(vm.dir, "qga.sock");
  for (;;) {
    if (await guestReady(sock)) break;
    if (!qemuAlive(vm)) throw new LinkcryptError("E_LAB", `VM ${vm.name} stopped while booting; see ${join(vm.dir, "console.log")}`);
    if (Date.now() - t0 > timeoutMs)
      throw new LinkcryptError("E_LAB", `VM ${vm.name} did not boot within ${timeoutMs / 1000} s; see ${join(vm.dir, "console.log")}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return Date.now() - t0;
}

export function qemuPid(vm: KernelVm): number | undefined {
  try {
    const pid = Number(readFileSync(join(vm.dir, "qemu.pid"), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function qemuAlive(vm: KernelVm): boolean {
  const pid = qemuPid(vm);
  if (!pid) return false;
  try {
    // Only a QEMU of this VM counts: a recycled pid must never be signalled.
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(vm.dir);
  } catch {
    return false;
  }
}

/** Power a VM off (no shutdown: what a crash or a pulled plug does). */
export async function stopVm(vm: KernelVm): Promise<void> {
  const pid = qemuPid(vm);
  if (pid && qemuAlive(vm)) {
    process.kill(pid, "SIGTERM");
    for (let i = 0; i < 50 && qemuAlive(vm); i++) await new Promise((r) => setTimeout(r, 100));
    if (qemuAlive(vm)) process.kill(pid, "SIGKILL");
  }
  rmSync(join(vm.dir, "qemu.pid"), { force: true });
}

export interface KernelLabOptions {
  name: string;
  dir: string;
  vms: { name: string; nsim: boolean }[];
  memMb?: number;
  onProgress?: (line: string) => void;
}

/** Bring the lab up: kernel (cached), initramfs, namespace and bridge, then the VMs two at a time (2 cores). */
export async function kernelLabUp(o: KernelLabOptions): Promise<KernelLabState> {
  if (process.getuid?.() !== 0)
    throw new LinkcryptError("E_LAB", "the kernel lab needs root (QEMU taps, a network namespace): run it with sudo");
  const kernel = prepareKernel();
  mkdirSync(o.dir, { recursive: true });
  const netns = labNetnsName(o.name);
  const s: KernelLabState = {
    datapath: "kernel",
    name: o.name,
    dir: o.dir,
    netns,
    subnet: `${SUBNET_BASE}.0/24`,
    kernel,
    memMb: o.memMb ?? 256,
    clientKey: join(o.dir, "id_ed25519"),
    knownHosts: join(o.dir, "known_hosts"),
    vms: [],
    created: ["lab.json", "initrd.gz", "id_ed25519", "id_ed25519.pub", "known_hosts", "vm"],
  };
  save(s);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "linkcrypt-kernel-lab-controller", "-f", s.clientKey]);
  buildInitramfs(kernel, join(o.dir, "initrd.gz"));
  sh("ip", ["netns", "add", netns], "lab namespace");
  sh("ip", ["-n", netns, "link", "set", "lo", "up"], "lab namespace");
  // group_fwd_mask 8: let the bridge forward 802.1X/EAPOL (01:80:c2:00:00:03), which MKA needs.
  sh("ip", ["-n", netns, "link", "add", "br0", "type", "bridge", "stp_state", "0", "group_fwd_mask", "8"], "lab bridge");
  sh("ip", ["-n", netns, "link", "set", "br0", "up"], "lab bridge");
  for (const v of o.vms) {
    s.vms.push(await provisionVm(s, v.name, v.nsim));
    save(s);
  }
  for (let i = 0; i < s.vms.length; i += 2) {
    const batch = s.vms.slice(i, i + 2);
    const ms = await Promise.all(batch.map((vm) => againIfDied(vm, () => bootVm(s, vm), o.onProgress)));
    batch.forEach((vm, k) =>
      o.onProgress?.(`${vm.name}: booted in ${(ms[k]! / 1000).toFixed(1)} s (${vm.address}${vm.nsim ? ", netdevsim ESP offload" : ""})`),
    );
  }
  await Promise.all(
    s.vms.map((vm) =>
      againIfDied(
        vm,
        () => waitForSshd(s, vm),
        o.onProgress,
        () => bootVm(s, vm),
      ),
    ),
  );
  return s;
}

/**
 * Runs a boot step; when it fails because the guest itself died (QEMU exited: under TCG a guest kernel has been seen
 * to crash while loading and self-testing crypto modules, rarely), keeps its console as console-died-N.log, says so,
 * boots the VM again and retries the step once. Any other failure, or a second death, is thrown as it is.
 */
async function againIfDied<T>(
  vm: KernelVm,
  step: () => Promise<T>,
  say: ((line: string) => void) | undefined,
  reboot?: () => Promise<unknown>,
): Promise<T> {
  try {
    return await step();
  } catch (e) {
    if (qemuAlive(vm)) throw e;
    const kept = join(vm.dir, `console-died-${Date.now()}.log`);
    try {
      copyFileSync(join(vm.dir, "console.log"), kept);
    } catch {
      /* no console written */
    }
    const why = /Kernel panic[^\n]*|BUG:[^\n]*|Oops[^\n]*/.exec(consoleTail(vm, 200))?.[0] ?? "QEMU exited";
    say?.(`${vm.name}: the guest died while starting (${why}; console kept in ${kept}); booting it again once`);
    if (reboot) await reboot();
    return step();
  }
}

/** sshd and charon's VICI socket are up inside the VM. */
async function waitForSshd(s: KernelLabState, vm: KernelVm, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await vmExec(s, vm.name, "test -f /run/linkcrypt-charon-ready && test -f /run/sshd.pid && echo ok").catch(() => undefined);
    if (r?.stdout.includes("ok")) return;
    if (!qemuAlive(vm))
      throw new LinkcryptError("E_LAB", `VM ${vm.name} stopped before sshd and charon were up; see ${vm.dir}/console.log`);
    if (Date.now() > until)
      throw new LinkcryptError("E_LAB", `VM ${vm.name}: sshd or charon did not start; see ${vm.dir}/charon.log and sshd.log`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

export async function vmExec(s: KernelLabState, vm: string, command: string, timeoutMs = 60_000): Promise<ExecResult> {
  const v = s.vms.find((x) => x.name === vm);
  if (!v) throw new LinkcryptError("E_LAB", `the kernel lab has no VM "${vm}"`);
  try {
    return await guestExec(join(v.dir, "qga.sock"), command, timeoutMs);
  } catch (e) {
    if (!qemuAlive(v))
      throw new LinkcryptError("E_LAB", `VM ${vm} is not running (QEMU exited); the end of its console:\n${consoleTail(v)}`, { cause: e });
    throw e;
  }
}

/** The last lines of a VM's serial console: where a guest kernel's oops or panic is. */
export function consoleTail(vm: KernelVm, lines = 40): string {
  try {
    return readFileSync(join(vm.dir, "console.log"), "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no console log)";
  }
}

/** Reboot one VM: power off and boot again from the same share (its swanctl files survive, its RAM does not). */
export async function rebootVm(s: KernelLabState, name: string): Promise<number> {
  const vm = s.vms.find((x) => x.name === name);
  if (!vm) throw new LinkcryptError("E_LAB", `the kernel lab has no VM "${name}"`);
  await stopVm(vm);
  const ms = await bootVm(s, vm);
  await waitForSshd(s, vm);
  return ms;
}

export async function kernelLabAddVm(dir: string, name: string, nsim: boolean): Promise<KernelVm> {
  const s = readKernelLab(dir);
  if (!s) throw new LinkcryptError("E_LAB", `no kernel lab in ${dir}`);
  if (s.vms.some((v) => v.name === name)) throw new LinkcryptError("E_LAB", `the kernel lab already has a VM "${name}"`);
  const vm = await provisionVm(s, name, nsim);
  s.vms.push(vm);
  save(s);
  await bootVm(s, vm);
  await waitForSshd(s, vm);
  return vm;
}

export async function kernelLabRemoveVm(dir: string, name: string): Promise<void> {
  const s = readKernelLab(dir);
  const vm = s?.vms.find((v) => v.name === name);
  if (!s || !vm) throw new LinkcryptError("E_LAB", `no VM "${name}" in the kernel lab in ${dir}`);
  await stopVm(vm);
  spawnSync("ip", ["-n", s.netns, "link", "del", vm.tap], { stdio: "ignore" });
  rmSync(vm.dir, { recursive: true, force: true });
  s.vms = s.vms.filter((v) => v !== vm);
  save(s);
}

/** Stop every VM, delete the namespace (bridge and taps with it) and remove only the files `up` created. */
export async function kernelLabDown(dir: string): Promise<string[]> {
  const s = readKernelLab(dir);
  if (!s) return [];
  for (const vm of s.vms) await stopVm(vm);
  spawnSync("ip", ["netns", "del", s.netns], { stdio: "ignore" });
  for (const vm of s.vms) spawnSync("ip", ["link", "del", vm.tap], { stdio: "ignore" });
  for (const f of s.created) rmSync(join(dir, f), { recursive: true, force: true });
  rmSync(join(dir, "initrd.gz.d"), { recursive: true, force: true });
  try {
    if (readdirSync(dir).length === 0) rmSync(dir, { recursive: true });
  } catch {
    /* already gone */
  }
  return s.vms.map((v) => v.name);
}

export function kernelLabStatus(dir: string): {
  state: KernelLabState | undefined;
  vms: { name: string; running: boolean; address: string; sshPort: number; nsim: boolean }[];
} {
  const s = readKernelLab(dir);
  return {
    state: s,
    vms: (s?.vms ?? []).map((v) => ({ name: v.name, running: qemuAlive(v), address: v.address, sshPort: v.sshPort, nsim: v.nsim })),
  };
}
