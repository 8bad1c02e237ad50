import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { labDown, readLab, type LabState } from "../../src/lab/lab.js";
import { SnmpSession } from "../../src/transport/snmp.js";
import { cli } from "../cli-run.js";
import { LAB_PASSWORD, userExists } from "../lab/peers.js";

/**
 * `linkcrypt lab up` / `lab down` on the real lab (root, namespaces, charon, netconfd, snmpd): the lab removes only
 * what it made, refuses to rebuild a running lab unless --recreate, keeps labs with similar names apart, gives its SSH
 * account a random password and removes it, keeps every secret-holding file at 0600, and speaks SNMPv3 authPriv only.
 */
const root = mkdtempSync(join(tmpdir(), "lc-lab-clean-"));
chmodSync(root, 0o755); // the lab switches' sshd reads keys as the unprivileged lab user
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await labDown(d).catch(() => undefined);
  rmSync(root, { recursive: true, force: true }); // the test's own directory, users' files and all
});

function netnsList(): string[] {
  return execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter(Boolean);
}

/** Every regular file under `dir`, with its mode. */
function walk(dir: string): { path: string; mode: number }[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return walk(p);
    return e.isFile() ? [{ path: p, mode: statSync(p).mode & 0o777 }] : [];
  });
}

describe("lab: cleans up only after itself (real lab)", () => {
  const dir = join(root, "with-notes");
  mkdirSync(dir);
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, "notes.txt"), "mine\n");
  dirs.push(dir);
  let first: LabState;

  it("lab up into a directory that holds a user's file", async () => {
    const up = await cli("lab", "up", "examples/lab-2site.yaml", "--dir", dir);
    expect(up.code, up.out + up.err).toBe(0);
    first = readLab(dir)!;
    expect(first.user).toMatch(/^lc[0-9a-f]{8}$/);
    expect(userExists(first.user!)).toBe(true);
  }, 90_000);

  it("the SSH account is the lab's own, with a random password", () => {
    expect(first.password).toBeTruthy();
    expect(first.password).not.toBe("lctest-pw-7f3a");
    expect(first.password).not.toBe(LAB_PASSWORD);
    const shadow = readFileSync("/etc/shadow", "utf8")
      .split("\n")
      .find((l) => l.startsWith(`${first.user}:`))!;
    expect(shadow.split(":")[1]).toMatch(/^\$/); // a password hash is set
  });

  it("every lab file that holds a key or password is mode 0600", () => {
    const secrets = [
      first.password!,
      ...first.encryptors!.flatMap((e) => [e.v3.authKey, e.v3.privKey]),
      readFileSync(join(dir, "mesh-master.key"), "utf8").trim(),
    ];
    const files = walk(dir).filter((f) => !f.path.endsWith("notes.txt"));
    const holders = files.filter((f) => {
      const t = readFileSync(f.path, "latin1");
      return secrets.some((s) => t.includes(s)) || /PRIVATE KEY/.test(t);
    });
    expect(holders.map((f) => f.path)).toEqual(
      expect.arrayContaining([join(dir, "lab.json"), join(dir, "secrets.yaml"), join(dir, "mesh-master.key")]),
    );
    for (const f of holders) expect(`${f.path} ${f.mode.toString(8)}`).toBe(`${f.path} 600`);
  });

  it("the encryptors refuse SNMP v2c (public) and answer v3 authPriv", async () => {
    const e = first.encryptors![0]!;
    const v2 = SnmpSession.open({
      device: "probe",
      host: "127.0.0.1",
      port: e.port,
      version: "2c",
      community: "public",
      timeoutMs: 700,
      retries: 0,
    });
    await expect(v2.get(["1.3.6.1.2.1.1.5.0"])).rejects.toThrow();
    v2.close();
    const v3 = SnmpSession.open({
      device: "probe",
      host: "127.0.0.1",
      port: e.port,
      version: "3",
      timeoutMs: 2000,
      retries: 1,
      user: { name: e.v3.user, authProtocol: "sha", authKey: e.v3.authKey, privProtocol: "aes", privKey: e.v3.privKey },
    });
    expect((await v3.get(["1.3.6.1.2.1.1.5.0"])).length).toBe(1);
    v3.close();
  });

  it("lab up on the running lab is refused (exit 1) and changes nothing; --recreate rebuilds it", async () => {
    const again = await cli("lab", "up", "examples/lab-2site.yaml", "--dir", dir);
    expect(again.code, again.err).toBe(1);
    expect(again.err).toMatch(/a lab is already running in .*--recreate/);
    expect(readLab(dir)!.switches!.map((s) => s.port)).toEqual(first.switches!.map((s) => s.port));
    const re = await cli("lab", "up", "examples/lab-2site.yaml", "--dir", dir, "--recreate");
    expect(re.code, re.out + re.err).toBe(0);
    const now = readLab(dir)!;
    expect(now.password).not.toBe(first.password);
    const st = await cli("lab", "status", "--dir", dir);
    expect(st.code, st.out).toBe(0);
  }, 120_000);

  it("lab down removes the lab's files, namespaces and account, and leaves the user's file and the directory", async () => {
    const s = readLab(dir)!;
    const down = await cli("lab", "down", "--dir", dir);
    expect(down.code, down.err).toBe(0);
    expect(readdirSync(dir)).toEqual(["notes.txt"]);
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).toBe("mine\n");
    expect(userExists(s.user!)).toBe(false);
    const pids = [...s.hosts.map((h) => h.pid), ...s.switches!.flatMap((x) => x.pids), ...s.encryptors!.flatMap((x) => x.pids)];
    expect(pids.length).toBe(4 + 2 * 2 + 2);
    const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^\d+ \([^)]*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
    expect(pids.filter(alive)).toEqual([]);
    const ns = netnsList();
    expect(ns.filter((n) => n.startsWith(s.bridgeNetns.replace(/sw$/, "")))).toEqual([]);
  }, 60_000);
});

describe("lab: down trusts lab.json only for what a lab makes", () => {
  it("a planted lab.json cannot make lab down kill other processes, delete other namespaces or accounts, or files outside", async () => {
    const d = join(root, "planted");
    mkdirSync(d);
    writeFileSync(join(root, "outside.txt"), "keep\n");
    const victim = (await import("node:child_process")).spawn("sleep", ["30"], { stdio: "ignore" });
    writeFileSync(
      join(d, "lab.json"),
      JSON.stringify({
        name: "x",
        dir: d,
        bridgeNetns: "not-a-lab-ns",
        subnet: "10.231.9.0/24",
        user: "root",
        made: ["../outside.txt", "/etc/hostname"],
        hosts: [{ name: "h", netns: "also-not-ours", address: "10.231.9.1", dir: d, viciSocket: "x", pid: victim.pid }],
      }),
    );
    const down = await cli("lab", "down", "--dir", d);
    expect(down.code, down.err).toBe(0);
    expect(victim.exitCode).toBeNull();
    expect(victim.killed).toBe(false);
    victim.kill();
    expect(userExists("root")).toBe(true);
    expect(readFileSync(join(root, "outside.txt"), "utf8")).toBe("keep\n");
    expect(existsSync("/etc/hostname")).toBe(true);
    expect(existsSync(join(d, "lab.json"))).toBe(false);
  });
});

describe("lab: --dir . and similar names (real lab)", () => {
  it("lab up --dir . then lab down --dir . keeps the working directory and its files", () => {
    const cwd = join(root, "cwd");
    mkdirSync(cwd);
    writeFileSync(join(cwd, "keep.yaml"), "x: 1\n");
    dirs.push(cwd);
    const bin = resolve("bin/linkcrypt.js");
    const run = (...a: string[]) => spawnSync(process.execPath, [bin, ...a], { cwd, encoding: "utf8", timeout: 90_000 });
    const up = run("lab", "up", resolve("examples/mesh-lab.yaml"), "--dir", ".");
    expect(up.status, up.stdout + up.stderr).toBe(0);
    expect(existsSync(join(cwd, "lab.json"))).toBe(true);
    const down = run("lab", "down", "--dir", ".");
    expect(down.status, down.stdout + down.stderr).toBe(0);
    expect(existsSync(cwd)).toBe(true);
    expect(readdirSync(cwd)).toEqual(["keep.yaml"]);
  }, 120_000);

  it("two labs whose names share their first characters run side by side", async () => {
    const names = ["lcsameprefix-one", "lcsameprefix-two"];
    for (const n of names) dirs.push(`/tmp/linkcrypt-lab-${n}`);
    for (const n of names) {
      const up = await cli("lab", "up", "examples/mesh-lab.yaml", "--name", n);
      expect(up.code, `${n}: ${up.out}${up.err}`).toBe(0);
    }
    for (const n of names) expect((await cli("lab", "status", "--name", n)).code).toBe(0);
    const [a, b] = names.map((n) => readLab(`/tmp/linkcrypt-lab-${n}`)!);
    expect(a!.bridgeNetns).not.toBe(b!.bridgeNetns);
    for (const n of names) expect((await cli("lab", "down", "--name", n)).code).toBe(0);
    for (const n of names) expect(existsSync(`/tmp/linkcrypt-lab-${n}`)).toBe(false);
  }, 180_000);
});

describe("lab: the test peers' account", () => {
  it("is this process's own, with a random password, and goes when its last peer stops", async () => {
    const { LAB_USER, startSshd } = await import("../lab/peers.js");
    expect(LAB_USER).toBe(`lct${process.pid}`);
    expect(LAB_PASSWORD).not.toBe("lctest-pw-7f3a");
    const [a, b] = await Promise.all([startSshd(), startSshd()]);
    expect(userExists(LAB_USER)).toBe(true);
    await a.stop();
    expect(userExists(LAB_USER)).toBe(true); // b still logs in with it
    await b.stop();
    expect(userExists(LAB_USER)).toBe(false);
  });
});
