import { chmodSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { cli } from "../cli-run.js";
import { freePort, LAB_USER, startNetconf, startSnmpd, startSshd, type NetconfPeer, type SnmpPeer, type SshdPeer } from "../lab/peers.js";

/** discover -> facts -> plan, against real peers: two hosts (sshd), one switch (netconfd), one L1 encryptor (snmpd). */
let h1: SshdPeer, h2: SshdPeer, sw: NetconfPeer, l1: SnmpPeer;
const dir = mkdtempSync(join(tmpdir(), "linkcrypt-discover-"));
const nic = readdirSync("/sys/class/net")
  .filter((n) => n !== "lo")
  .sort()[0]!;

beforeAll(async () => {
  [h1, h2, sw, l1] = await Promise.all([startSshd(), startSshd(), startNetconf(), startSnmpd()]);
  writeFileSync(join(dir, "known_hosts"), [h1, h2, sw].map((p) => readFileSync(p.knownHosts, "utf8")).join(""));
  writeFileSync(join(dir, "secrets.yaml"), stringify({ "l1-auth": l1.v3.authKey, "l1-priv": l1.v3.privKey }), { mode: 0o600 });
  chmodSync(join(dir, "secrets.yaml"), 0o600);
}, 60_000);
afterAll(async () => {
  await Promise.all([h1, h2, sw, l1].map((p) => p?.stop()));
});

async function inventory(policy: string): Promise<string> {
  const host = (name: string, p: SshdPeer, nicProfile: string, ip: string) => ({
    name,
    kind: "host",
    site: "lab",
    profile: "lab-netns-host",
    role: "app",
    management: { address: p.host, port: p.port, transport: "ssh" },
    credentials: { username: LAB_USER, secret: `file:${p.clientKeyPath}` },
    addresses: { ipv4: ip },
    nics: [{ name: nic, profile: nicProfile, speed: "10G", mtu: 1500 }],
  });
  const inv = {
    version: 1,
    name: "lab",
    policy,
    sites: [{ name: "lab" }],
    devices: [
      host("h1", h1, "mlx5-connectx-6dx", "10.99.0.1"),
      host("h2", h2, "virtio-net", "10.99.0.2"),
      { ...host("h-gone", h1, "virtio-net", "10.99.0.3"), management: { address: "127.0.0.1", port: await freePort(), transport: "ssh" } },
      { ...host("h-local", h1, "virtio-net", "10.99.0.4"), management: { address: "10.99.0.4", transport: "local" } },
      {
        name: "sw1",
        kind: "switch",
        site: "lab",
        profile: "lab-openconfig-switch",
        management: { address: sw.host, port: sw.port, transport: "netconf" },
        credentials: { username: LAB_USER, secret: `file:${sw.clientKeyPath}` },
        ports: [{ name: "eth1", speed: "100G", mtu: 1500 }],
      },
      {
        name: "enc1",
        kind: "l1-encryptor",
        site: "lab",
        profile: "acme-lx100",
        management: { address: l1.host, port: l1.port, transport: "snmp", snmpVersion: "3", snmpAuth: "sha", snmpPriv: "aes" },
        credentials: { username: l1.v3.user, secret: "secrets:l1-auth", privSecret: "secrets:l1-priv" },
      },
    ],
    meshes: [{ name: "lab-mesh", members: { hosts: ["h1", "h2"] }, mode: "tunnel", pskMaster: "env:LC_TEST_MESH_MASTER" }], // a PSK mesh needs one to plan
  };
  const f = join(dir, `lab-${policy}.yaml`);
  writeFileSync(f, stringify(inv));
  return f;
}

describe("cli: discover (real peers)", () => {
  it("gathers facts from every kind of device, reports the unreachable one, and the rest complete", async () => {
    const inv = await inventory("default");
    const facts = join(dir, "facts.json");
    const r = await cli(
      "discover",
      inv,
      "--known-hosts",
      join(dir, "known_hosts"),
      "--secrets",
      join(dir, "secrets.yaml"),
      "--out",
      facts,
      "--timeout",
      "3",
      "--json",
    );
    expect(r.code).toBe(1); // h-gone is down
    const j = JSON.parse(r.out);
    const d = j.facts.devices;
    expect(d["h-gone"]).toMatchObject({ reachable: false, error: { code: "E_CONNECT" } });
    expect(d["h-local"]).toBeUndefined(); // reached through VICI only: skipped, and said so
    expect(j.skipped).toContainEqual({ device: "h-local", why: expect.stringMatching(/^management transport local: .*profile defaults$/) });
    expect(d.h1.reachable).toBe(true);
    expect(d.h1.host.kernel).toBe(readFileSync("/proc/sys/kernel/osrelease", "utf8").trim());
    expect(d.sw1.netconf).toMatchObject({ candidate: true, confirmedCommit: true });
    expect(d.enc1.l1).toMatchObject({ status: "secure", cipher: "AES-256-GCM" });
    // the conflict the issue names: a profile that claims offload, and ethtool that says otherwise
    const conflict = j.conflicts.find(
      (c: { path: string; message: string }) => c.path === "devices.h1" && /ethtool says esp-hw-offload/.test(c.message),
    );
    expect(conflict.message).toMatch(/^h1: inventory says ConnectX-6 Dx crypto\+packet offload; ethtool says esp-hw-offload /);
    expect(JSON.parse(readFileSync(facts, "utf8"))).toEqual(j.facts);
    // no secret anywhere in what discover printed or wrote
    for (const s of [l1.v3.authKey, l1.v3.privKey, readFileSync(h1.clientKeyPath, "utf8").split("\n")[1]!]) {
      expect(r.out).not.toContain(s);
      expect(readFileSync(facts, "utf8")).not.toContain(s);
    }
  });

  it("the planner uses the facts: this kernel's missing gcm(aes) refuses an AES-GCM-only (CNSA) host-xfrm plan", async () => {
    const inv = await inventory("cnsa-1");
    const facts = join(dir, "facts-cnsa.json");
    await cli(
      "discover",
      inv,
      "--known-hosts",
      join(dir, "known_hosts"),
      "--secrets",
      join(dir, "secrets.yaml"),
      "--out",
      facts,
      "--timeout",
      "3",
      "--json",
    );
    const hasGcm = /^name\s*:\s*rfc4106\(gcm\(aes\)\)$/m.test(readFileSync("/proc/crypto", "utf8"));
    const r = await cli("plan", inv, "--facts", facts, "--json");
    const plan = JSON.parse(r.out);
    const pc = plan.meshes[0].pairClasses[0];
    if (hasGcm) {
      expect(pc.method).toBe("esp");
    } else {
      expect(r.code).toBe(1);
      expect(pc.method).toBe("refused");
      expect(plan.diagnostics.some((x: { message: string }) => /kernel has no rfc4106\(gcm\(aes\)\)/.test(x.message))).toBe(true);
    }
    // without facts the same inventory plans AES-GCM: the facts changed the decision
    const blind = JSON.parse((await cli("plan", inv, "--json")).out);
    expect(blind.meshes[0].pairClasses[0].cipher).toBe("aes-gcm-256");
    expect(plan.inputs.factsDigest).toMatch(/^sha256:/);
  });

  it("a refused host key stops that device only, with the fingerprint", async () => {
    const inv = await inventory("default");
    writeFileSync(join(dir, "kh-empty"), "");
    const r = await cli(
      "discover",
      inv,
      "--known-hosts",
      join(dir, "kh-empty"),
      "--secrets",
      join(dir, "secrets.yaml"),
      "--timeout",
      "3",
      "--json",
    );
    const d = JSON.parse(r.out).facts.devices;
    expect(d.h1.error.code).toBe("E_HOSTKEY_UNKNOWN");
    expect(d.h1.error.message).toMatch(/SHA256:/);
    expect(d.enc1.reachable).toBe(true); // SNMP does not need the host key
  });

  it("apply re-reads the devices: a plan made from facts the hosts no longer match is refused as stale, naming device and field", async () => {
    const inv = await inventory("default");
    const kh = ["--known-hosts", join(dir, "known_hosts"), "--secrets", join(dir, "secrets.yaml")];
    const facts = join(dir, "facts-now.json");
    await cli("discover", inv, ...kh, "--out", facts, "--timeout", "3", "--json");
    // The facts as they were "yesterday": h2's CPU had the opposite AES-NI answer.
    const old = JSON.parse(readFileSync(facts, "utf8"));
    const flags: string[] = old.devices.h2.host.cpuFlags;
    const had = flags.includes("aes");
    old.devices.h2.host.cpuFlags = had ? flags.filter((f) => f !== "aes") : [...flags, "aes"];
    const oldFacts = join(dir, "facts-old.json");
    writeFileSync(oldFacts, JSON.stringify(old));
    expect((await cli("plan", inv, "--facts", oldFacts, "--out", join(dir, "plan-old.json"))).code).toBe(0);
    expect((await cli("plan", inv, "--facts", facts, "--out", join(dir, "plan-now.json"))).code).toBe(0);

    const stale = await cli(
      "apply",
      join(dir, "plan-old.json"),
      "--inventory",
      inv,
      "--facts",
      oldFacts,
      ...kh,
      "--state-dir",
      join(dir, "st1"),
      "--dry-run",
    );
    expect(stale.code).toBe(1);
    expect(stale.err).toMatch(
      /plan-old\.json is stale: the devices no longer match .*facts-old\.json, and the plan would now differ for mesh lab-mesh \(hostClasses/,
    );
    expect(stale.err).toContain(`h2: cpu flag aes: ${had ? "absent -> present" : "present -> absent"}`);
    expect(stale.err).toMatch(/Run linkcrypt discover --out .*facts-old\.json and linkcrypt plan again/);
    expect(stale.err).toMatch(/In the plan: mesh lab-mesh: hostClasses\[hc\d\]\.cpuTier: plan has "\w+", re-derived "\w+"/); // each field, both values

    // The current facts pass the check (the mesh step itself then fails: these hosts run no charon).
    const fine = await cli(
      "apply",
      join(dir, "plan-now.json"),
      "--inventory",
      inv,
      "--facts",
      facts,
      ...kh,
      "--state-dir",
      join(dir, "st2"),
      "--dry-run",
    );
    expect(fine.err).toContain("re-reading the devices' state");
    expect(fine.err).not.toMatch(/is stale/);
    // --no-refresh trusts the file: no re-read, no refusal.
    const trusted = await cli(
      "apply",
      join(dir, "plan-old.json"),
      "--inventory",
      inv,
      "--facts",
      oldFacts,
      ...kh,
      "--state-dir",
      join(dir, "st3"),
      "--dry-run",
      "--no-refresh",
    );
    expect(trusted.err).not.toMatch(/re-reading|is stale/);
  });
});
