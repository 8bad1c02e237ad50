import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sshTarget } from "../../src/devices/ssh-target.js";
import { InputError } from "../../src/errors.js";
import { SshConnection } from "../../src/transport/ssh.js";
import type { DeviceEntry } from "../../src/model/inventory-schema.js";
import { parseJump, sshConfigPath } from "../../src/transport/ssh-config.js";

const dir = mkdtempSync(join(tmpdir(), "lc-ssh-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const key = join(dir, "id_test");
writeFileSync(key, "-----BEGIN OPENSSH PRIVATE KEY-----\nnot-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n", { mode: 0o600 });
const jumpKey = join(dir, "id_jump");
writeFileSync(jumpKey, "jump-key-bytes\n", { mode: 0o600 });
const cfg = join(dir, "config");
writeFileSync(
  cfg,
  [
    "# first obtained value wins",
    "Host sw1.lab",
    "  HostName 10.0.0.1",
    "  Port 2201",
    "  User netops",
    `  IdentityFile ${join(dir, "missing_key")}`,
    `  IdentityFile ${key}`,
    "  ProxyJump jumper@bastion1:2222,bastion2",
    "Host bastion1",
    "  HostName 127.0.0.9",
    "  User ignored-because-the-hop-names-one",
    `  IdentityFile ${jumpKey}`,
    "Host bastion2",
    "  HostName %h.example",
    "  Port 2022",
    "Host direct-*",
    "  ProxyJump none",
    "Host cmd-only",
    "  ProxyCommand nc %h %p",
    "Host badport",
    "  Port 99999",
    "Host *",
    "  User everyone",
    "  Port 2200",
    "  ProxyJump bastion1",
    "",
  ].join("\n"),
);

const dev = (address: string | undefined, extra: Partial<{ port: number; username: string; secret: string }> = {}) =>
  ({
    name: "dev1",
    kind: "switch",
    site: "s",
    profile: "p",
    ports: [],
    management: { transport: "ssh", ...(address ? { address } : {}), ...(extra.port ? { port: extra.port } : {}) },
    ...(extra.secret ? { credentials: { secret: extra.secret, ...(extra.username ? { username: extra.username } : {}) } } : {}),
  }) as unknown as DeviceEntry;
const access = (env: Record<string, string> = {}, sshConfigFile: string | undefined = cfg) => ({
  knownHostsFile: join(dir, "known_hosts"),
  acceptNewHostKey: false,
  secrets: { env },
  connectTimeoutMs: 1000,
  commandTimeoutMs: 1000,
  ...(sshConfigFile ? { sshConfigFile } : {}),
});

describe("ssh_config: Host, HostName, User, Port, IdentityFile, ProxyJump", () => {
  it("fills in what the inventory leaves out, first match wins, and resolves every ProxyJump hop through the file", () => {
    const t = sshTarget(dev("sw1.lab"), access({ SSH_AUTH_SOCK: "/tmp/agent.sock" }));
    expect(t).toMatchObject({ device: "dev1", host: "10.0.0.1", port: 2201, username: "netops", agent: "/tmp/agent.sock" });
    // The missing IdentityFile is skipped; the next one is read.
    expect(t.privateKey).toContain("not-a-real-key");
    expect(t.jump).toEqual([
      {
        host: "127.0.0.9",
        port: 2222,
        username: "jumper",
        agent: "/tmp/agent.sock",
        privateKey: "jump-key-bytes\n",
        keySource: `IdentityFile ${jumpKey} (ssh config ${cfg})`,
      },
      // %h in HostName is the name looked up; Port from its own block (the first match), User from Host *.
      { host: "bastion2.example", port: 2022, username: "everyone", agent: "/tmp/agent.sock" },
    ]);
  });

  it("the inventory wins: its port, username and credential reference are used instead of the file's", () => {
    const t = sshTarget(dev("sw1.lab", { port: 22, username: "inv-user", secret: "env:PW" }), access({ PW: "hunter2" }));
    expect(t).toMatchObject({ host: "10.0.0.1", port: 22, username: "inv-user", password: "hunter2" });
    expect(t.privateKey).toBeUndefined();
  });

  it("Host * applies to the rest; ProxyJump none turns it off; without a file nothing changes", () => {
    expect(sshTarget(dev("10.9.9.9"), access())).toMatchObject({
      host: "10.9.9.9",
      port: 2200,
      username: "everyone",
      // The hop's own block has no Port, so Host * gives it one too.
      jump: [{ host: "127.0.0.9", port: 2200, username: "ignored-because-the-hop-names-one" }],
    });
    expect(sshTarget(dev("direct-1"), access()).jump).toBeUndefined();
    writeFileSync(join(dir, "empty"), "");
    const none = sshTarget(dev("sw1.lab"), access({}, join(dir, "empty")));
    expect(none).toMatchObject({ host: "sw1.lab", port: 22, username: "linkcrypt" });
    expect(none.jump).toBeUndefined();
  });

  it("a device without an address is looked up by its name", () => {
    expect(sshTarget(dev(undefined), access()).host).toBe("localhost");
    const byName = join(dir, "by-name");
    writeFileSync(byName, "Host dev1\n  HostName 192.0.2.7\n");
    expect(sshTarget(dev(undefined), access({}, byName)).host).toBe("192.0.2.7");
  });

  it("an IdentityFile ssh2 cannot read is an error naming that file and the hop, before any connection", async () => {
    const e = await SshConnection.connect(sshTarget(dev("sw1.lab"), access())).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toMatch(
      /^dev1: jump host jumper@127\.0\.0\.9:2222: the SSH credential for jumper@127\.0\.0\.9 cannot be used/,
    );
    expect((e as Error).message).toContain(`(check IdentityFile ${jumpKey} (ssh config ${cfg}))`);
    expect((e as Error).message).not.toContain("jump-key-bytes");
  });

  it("bad input is an error naming the file and the host", () => {
    expect(() => sshTarget(dev("cmd-only"), access())).toThrow(/ssh config .*config: Host cmd-only uses ProxyCommand/);
    expect(() => sshTarget(dev("badport"), access())).toThrow(/ssh config .*config: Host badport: Port "99999" is not a port/);
    expect(() => parseJump("user@", "f", "h")).toThrow(/ProxyJump "user@" is not \[user@\]host\[:port\]/);
    expect(parseJump("ssh://a@[2001:db8::1]:2222", "f", "h")).toEqual({ host: "2001:db8::1", user: "a", port: 2222 });
  });

  it("which file: --ssh-config, else $LINKCRYPT_SSH_CONFIG, else ~/.ssh/config if it exists; a named file must exist", () => {
    expect(sshConfigPath(cfg, { LINKCRYPT_SSH_CONFIG: "/nonexistent" })).toBe(cfg);
    expect(sshConfigPath(undefined, { LINKCRYPT_SSH_CONFIG: cfg })).toBe(cfg);
    expect(() => sshConfigPath(join(dir, "nope"), {})).toThrow(/ssh config .*nope does not exist \(--ssh-config\)/);
    expect(() => sshConfigPath(undefined, { LINKCRYPT_SSH_CONFIG: join(dir, "nope") })).toThrow(/\$LINKCRYPT_SSH_CONFIG/);
    expect(sshConfigPath(undefined, {}, join(dir, "no-home"))).toBeUndefined();
  });
});
