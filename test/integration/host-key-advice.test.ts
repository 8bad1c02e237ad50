import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { HostKeyError } from "../../src/errors.js";
import { SshConnection } from "../../src/transport/ssh.js";
import { cli } from "../cli-run.js";
import { LAB_USER, startSshd, type SshdPeer } from "../lab/peers.js";

/** The unknown-host-key error names a command and flag that exist and record the key (real sshd). */
let peer: SshdPeer;
const dir = mkdtempSync(join(tmpdir(), "lc-hostkey-"));
beforeAll(async () => {
  peer = await startSshd();
});
afterAll(async () => peer?.stop());

describe("ssh: the unknown-host-key advice and the flag agree", () => {
  it("advises discover --accept-new-host-key, which discover accepts and which records the key", async () => {
    const kh = join(dir, "known_hosts");
    writeFileSync(kh, "");
    const e = await SshConnection.connect({
      device: "h1",
      host: peer.host,
      port: peer.port,
      username: LAB_USER,
      privateKey: readFileSync(peer.clientKeyPath),
      knownHostsFile: kh,
      connectTimeoutMs: 5000,
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(HostKeyError);
    const advice = /record it with linkcrypt (\w+) INVENTORY (--[\w-]+)/.exec((e as Error).message);
    expect(advice, (e as Error).message).not.toBeNull();
    const [, verb, flag] = advice!;
    // apply rejects the flag (it never accepts a new key), so the advice must not be "retry with it".
    expect((await cli("apply", "plan.json", "--inventory", "x.yaml", flag!)).code).toBe(64);
    const inv = join(dir, "inv.yaml");
    writeFileSync(
      inv,
      stringify({
        version: 1,
        name: "hk",
        policy: "default",
        sites: [{ name: "lab" }],
        devices: [
          {
            name: "h1",
            kind: "host",
            site: "lab",
            profile: "lab-netns-host",
            management: { address: peer.host, port: peer.port, transport: "ssh" },
            credentials: { username: LAB_USER, secret: `file:${peer.clientKeyPath}` },
            addresses: { ipv4: "10.99.0.1" },
            nics: [{ name: "eth0", profile: "virtio-net", speed: "10G", mtu: 1500 }],
          },
        ],
      }),
    );
    const r = await cli(verb!, inv, flag!, "--known-hosts", kh, "--timeout", "5", "--json");
    expect(r.code, r.out + r.err).not.toBe(64);
    expect(readFileSync(kh, "utf8")).toContain(peer.hostKeyPub);
  }, 60_000);
});
