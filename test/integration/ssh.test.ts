import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthError, CommandError, ConnectError, HostKeyError, TimeoutError } from "../../src/errors.js";
import { fingerprint } from "../../src/transport/known-hosts.js";
import { SshConnection, SshPool, type SshOptions } from "../../src/transport/ssh.js";
import { LAB_PASSWORD, LAB_USER, startSshd, type SshdPeer } from "../lab/peers.js";

let peer: SshdPeer;
beforeAll(async () => {
  peer = await startSshd();
});
afterAll(async () => peer?.stop());

const opts = (o: Partial<SshOptions> = {}): SshOptions => ({
  device: "lab-host",
  host: peer.host,
  port: peer.port,
  username: LAB_USER,
  privateKey: readFileSync(peer.clientKeyPath),
  knownHostsFile: peer.knownHosts,
  connectTimeoutMs: 5000,
  ...o,
});
const hostFp = () => fingerprint(Buffer.from(peer.hostKeyPub.split(" ")[1]!, "base64"));

describe("transport: ssh (real sshd)", () => {
  it("connects with a key, pins the host key, and runs a command", async () => {
    const c = await SshConnection.connect(opts());
    const r = await c.exec("id -un; echo err >&2; exit 3");
    expect(r).toEqual({ code: 3, signal: undefined, stdout: `${LAB_USER}\n`, stderr: "err\n" });
    c.close();
  });

  it("connects with a password", async () => {
    const c = await SshConnection.connect(opts({ privateKey: undefined as never, password: LAB_PASSWORD }));
    expect(await c.run("echo ok")).toBe("ok\n");
    c.close();
  });

  it("authenticates through an ssh-agent", async () => {
    const { execFileSync, spawn } = await import("node:child_process");
    const sock = join(tmpdir(), `lc-agent-${process.pid}.sock`);
    const agent = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
    try {
      for (let i = 0; i < 100 && !(await import("node:fs")).existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
      execFileSync("ssh-add", [peer.clientKeyPath], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: "ignore" });
      const { privateKey: _, ...rest } = opts();
      const c = await SshConnection.connect({ ...rest, agent: sock });
      expect(await c.run("echo via-agent")).toBe("via-agent\n");
      c.close();
    } finally {
      agent.kill();
    }
  });

  it("refuses a wrong password with an auth error naming the device", async () => {
    const { privateKey: _, ...rest } = opts();
    const e = await SshConnection.connect({ ...rest, password: "wrong" }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AuthError);
    expect((e as AuthError).message).toMatch(new RegExp(`^lab-host: authentication as "${LAB_USER}" failed`));
  });

  it("refuses an unknown host key, showing its fingerprint", async () => {
    const kh = join(tmpdir(), `kh-empty-${process.pid}`);
    writeFileSync(kh, "");
    const e = await SshConnection.connect(opts({ knownHostsFile: kh })).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HostKeyError);
    expect((e as HostKeyError).code).toBe("E_HOSTKEY_UNKNOWN");
    expect((e as HostKeyError).message).toContain(hostFp());
  });

  it("accepts a new key only when asked, and records it", async () => {
    const kh = join(tmpdir(), `kh-new-${process.pid}`);
    writeFileSync(kh, "");
    const c = await SshConnection.connect(opts({ knownHostsFile: kh, acceptNewHostKey: true }));
    c.close();
    expect(readFileSync(kh, "utf8")).toBe(`[127.0.0.1]:${peer.port} ${peer.hostKeyPub}\n`);
    (await SshConnection.connect(opts({ knownHostsFile: kh }))).close();
  });

  it("refuses a changed host key, even with acceptNewHostKey", async () => {
    const kh = join(tmpdir(), `kh-changed-${process.pid}`);
    const other = "AAAAC3NzaC1lZDI1NTE5AAAAIBu6qTW1Kj1c3hJ9qJ8o5K0lLq1Y1n7mC9GZc8uJm1yX";
    writeFileSync(kh, `[127.0.0.1]:${peer.port} ssh-ed25519 ${other}\n`);
    const e = await SshConnection.connect(opts({ knownHostsFile: kh, acceptNewHostKey: true })).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HostKeyError);
    expect((e as HostKeyError).code).toBe("E_HOSTKEY_MISMATCH");
    expect((e as HostKeyError).message).toMatch(/HOST KEY CHANGED/);
    expect((e as HostKeyError).message).toContain(hostFp());
    expect((e as HostKeyError).expected).toBe(fingerprint(Buffer.from(other, "base64")));
  });

  it("a missing command is a CommandError with exit 127", async () => {
    const c = await SshConnection.connect(opts());
    const e = await c.run("no-such-command-linkcrypt").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CommandError);
    expect((e as CommandError).code).toBe("E_COMMAND_NOT_FOUND");
    expect((e as CommandError).message).toMatch(/lab-host: "no-such-command-linkcrypt" failed \(command not found\)/);
    c.close();
  });

  it("times out a command that hangs", async () => {
    const c = await SshConnection.connect(opts());
    const e = await c.exec("sleep 5", 300).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TimeoutError);
    c.close();
  });

  it("reports a connection that drops mid-command", async () => {
    const c = await SshConnection.connect(opts());
    // The shell's parent is this session's sshd process: killing it drops the connection under the command.
    const e = await c.exec("sleep 0.2; kill -9 $PPID; sleep 5", 5000).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConnectError);
    expect((e as ConnectError).message).toMatch(/dropped while running/);
  });

  it("reuses one connection per device, and reopens a dropped one", async () => {
    const pool = new SshPool();
    const a = await pool.get(opts());
    const b = await pool.get(opts());
    expect(a).toBe(b);
    a.close();
    const c = await pool.get(opts());
    expect(c).not.toBe(a);
    expect(await c.run("echo again")).toBe("again\n");
    await pool.closeAll();
  });

  it("forwards to a UNIX socket on the device (streamlocal)", async () => {
    const sock = join(tmpdir(), `lc-fwd-${process.pid}.sock`);
    const server: Server = createServer((s) => s.on("data", (d) => s.end(`echo:${d.toString()}`)));
    await new Promise<void>((r) => server.listen(sock, r));
    const { chmodSync } = await import("node:fs");
    chmodSync(sock, 0o777);
    const c = await SshConnection.connect(opts());
    const ch = await c.forwardStreamLocal(sock);
    const reply = await new Promise<string>((resolve) => {
      let buf = "";
      ch.on("data", (d: Buffer) => (buf += d.toString()));
      ch.on("end", () => resolve(buf));
      ch.write("ping");
    });
    expect(reply).toBe("echo:ping");
    c.close();
    server.close();
  });

  it("refuses a closed port as a connect error", async () => {
    const e = await SshConnection.connect(opts({ port: 1 })).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConnectError);
    expect((e as ConnectError).message).toMatch(/^lab-host: cannot connect to 127\.0\.0\.1:1/);
  });
});
