import { chmodSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { labDown, readLab } from "../../src/lab/lab.js";
import { NetconfSession } from "../../src/transport/netconf/client.js";
import { SshConnection } from "../../src/transport/ssh.js";
import { cli } from "../cli-run.js";
import { stateFileText, stateJournal, stateSecret } from "../lab/state.js";

/**
 * The whole product on a lab that `linkcrypt lab up` builds from examples/lab-2site.yaml: two netconfd switches, two
 * snmpd encryptors and four charon hosts, driven only through the CLI:
 * a refused commit (both ends roll back; the report says unsecured and why), apply, verify, report, key rotations
 * with continuous sampling, and no secret anywhere.
 */
const root = mkdtempSync(join(tmpdir(), "lc-lab-e2e-"));
chmodSync(root, 0o755); // the lab switches' sshd reads keys as the unprivileged lab user
const dir = join(root, "lab");
const inv = join(dir, "inventory.yaml");
const state = join(root, "state");
afterAll(async () => labDown(dir));

const outputs: string[] = [];
const access = () => ["--known-hosts", join(dir, "known_hosts"), "--secrets", join(dir, "secrets.yaml")];
const applyArgs = () => [
  join(root, "plan.json"),
  "--inventory",
  inv,
  ...access(),
  "--state-dir",
  state,
  "--lab",
  "--confirm-timeout",
  "30",
  "--json",
];

async function lockRunning(switchName: string) {
  const s = readLab(dir)!.switches!.find((x) => x.name === switchName)!;
  const kh = join(root, "kh");
  (await import("node:fs")).writeFileSync(kh, `${s.knownHostsLine}\n`);
  const c = await SshConnection.connect({
    device: "blocker",
    host: "127.0.0.1",
    port: s.port,
    username: readLab(dir)!.user!,
    privateKey: readFileSync(s.clientKeyPath),
    knownHostsFile: kh,
  });
  const nc = await NetconfSession.open(await c.subsystem("netconf"), { device: "blocker" });
  await nc.lock("running");
  return async () => {
    await nc.unlock("running");
    await nc.close();
    c.close();
  };
}

describe("end to end through linkcrypt lab up", () => {
  it("1. lab up and plan", async () => {
    const up = await cli("lab", "up", "examples/lab-2site.yaml", "--dir", dir);
    expect(up.code, up.out + up.err).toBe(0);
    expect(up.out).toMatch(/a1-sw\s+switch\s+netconfd behind sshd, 127\.0\.0\.1:\d+/);
    expect(up.out).toMatch(/b1-enc\s+l1-encryptor\s+snmpd, udp 127\.0\.0\.1:\d+/);
    const st = await cli("lab", "status", "--dir", dir, "--json");
    expect(st.code).toBe(0);
    expect(JSON.parse(st.out).devices.map((d: { name: string; running: boolean }) => `${d.name}:${d.running}`)).toEqual([
      "a1-sw:true",
      "b1-sw:true",
      "a1-enc:true",
      "b1-enc:true",
    ]);
    expect((await cli("plan", inv, "--out", join(root, "plan.json"))).code).toBe(0);
  }, 60_000);

  it("2a. a dry run shows every device's diff: switch config (key masked), encryptor values, swanctl files", async () => {
    const d = await cli("apply", ...applyArgs(), "--dry-run");
    outputs.push(d.out, d.err);
    expect(d.code, d.out + d.err).toBe(2);
    const results = JSON.parse(d.out).results as { target: string; outcome: string; diff?: string }[];
    expect(results.map((r) => `${r.target}:${r.outcome}`)).toEqual(["a1-b1-l1:planned", "a1-b1-macsec:planned", "mesh app:planned"]);
    expect(results.find((r) => r.target === "a1-b1-macsec")!.diff).toMatch(/secret-key = <secret>/);
    expect(results.find((r) => r.target === "a1-b1-l1")!.diff).toMatch(/rotationInterval: 86400 -> 3600/);
    expect(results.find((r) => r.target === "mesh app")!.diff).toMatch(
      /a1-h1:\n[\s\S]*\+ connections \{[\s\S]*\+ +remote_addrs = 10\.231\./,
    );
    // the file as delivery writes it: the fail-closed drop shunts come with it
    expect(results.find((r) => r.target === "mesh app")!.diff).toMatch(/\+ +block-a1-h2 \{/);
  }, 60_000);

  it("2. one switch rejects the commit: both ends roll back, and the report shows the link unsecured with the reason", async () => {
    const release = await lockRunning("b1-sw");
    try {
      const a = await cli("apply", ...applyArgs());
      outputs.push(a.out, a.err);
      expect(a.code).toBe(1);
      const r = JSON.parse(a.out).results.find((x: { target: string }) => x.target === "a1-b1-macsec");
      expect(r.detail).toMatch(/^b1-sw refused the commit, so a1-sw was rolled back too/);
    } finally {
      await release();
    }
    const v = await cli("verify", inv, ...access(), "--out", join(root, "verify-1.json"), "--json");
    outputs.push(v.out);
    const mac = JSON.parse(v.out).entries.find((e: { name: string }) => e.name === "a1-b1-macsec");
    expect(mac.status).toBe("unsecured");
    expect(mac.evidence.join(" ")).toMatch(/a1-sw et-0\/0\/0: unsecured .*no encryption configured/);
    const rep = await cli("report", inv, "--verify", join(root, "verify-1.json"), "--state-dir", state, "--format", "md");
    outputs.push(rep.out);
    expect(rep.out).toMatch(/\| a1-b1-macsec \|.*\| unsecured \|/);
    expect(rep.out).toMatch(/\*\*a1-b1-macsec\*\* \(unsecured\): last apply failed .*b1-sw refused the commit/);
  }, 60_000);

  it("3. apply converges; verify and report", async () => {
    const a = await cli("apply", ...applyArgs());
    outputs.push(a.out, a.err);
    expect(a.code, a.out + a.err).toBe(2);
    const results = JSON.parse(a.out).results as { target: string; outcome: string; detail: string }[];
    expect(results.find((r) => r.target === "a1-b1-macsec")!.outcome).toBe("changed");
    const v = await cli("verify", inv, ...access(), "--out", join(root, "verify.json"), "--json");
    outputs.push(v.out);
    const status = Object.fromEntries((JSON.parse(v.out).entries as { name: string; status: string }[]).map((e) => [e.name, e.status]));
    expect(status["a1-b1-l1"]).toBe("secured");
    expect(status["a1-b1-macsec"]).toBe("unknown"); // configured at both ends; lab switches run no MKA
    expect(Object.entries(status).filter(([k, s]) => k.startsWith("app:") && s === "secured")).toHaveLength(6);
    const r = await cli("report", inv, "--verify", join(root, "verify.json"), "--format", "md");
    outputs.push(r.out);
    expect(r.out).toMatch(/\| a1-b1-l1 \|.*\| secured \|/);
    const m = await cli("metrics", inv, "--verify", join(root, "verify.json"));
    outputs.push(m.out);
    expect(m.out).toMatch(/^linkcrypt_mesh_child_sas\{mesh="app",host="a1-h1"\} 3$/m);
    expect(m.out).toMatch(/^linkcrypt_link_status\{link="a1-b1-l1",method="l1",status="secured"\} 1$/m);
    expect(r.out).toMatch(/app: 4 hosts, 6 pairs, 6 verified secured/);
    // a dry run now finds the mesh as delivered: nothing to change, the shunts included
    const again = await cli("apply", ...applyArgs(), "--dry-run");
    outputs.push(again.out, again.err);
    const mesh = (JSON.parse(again.out).results as { target: string; outcome: string; diff?: string }[]).find(
      (x) => x.target === "mesh app",
    );
    expect(mesh?.outcome, mesh?.diff).toBe("unchanged");
  }, 90_000);

  it("4. rotating the MACsec key and the mesh PSK: no pair is ever reported down", async () => {
    const samples: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const v = await cli("mesh", "verify", inv, "--json");
        samples.push((JSON.parse(v.out).pairs as { status: string }[]).filter((p) => p.status === "up" || p.status === "idle").length);
      }
    })();
    const rl = await cli(
      "rotate",
      "link",
      "a1-b1-macsec",
      "--inventory",
      inv,
      ...access(),
      "--state-dir",
      state,
      "--confirm-timeout",
      "30",
    );
    const rm = await cli("rotate", "mesh", "app", "--inventory", inv, ...access(), "--state-dir", state, "--lab");
    sampling = false;
    await sampler;
    outputs.push(rl.out, rl.err, rm.out, rm.err);
    expect(rl.code, rl.out + rl.err).toBe(2);
    expect(rm.code, rm.out + rm.err).toBe(2);
    expect(samples.length).toBeGreaterThan(2);
    expect(new Set(samples)).toEqual(new Set([6]));
  }, 60_000);

  it("5. no secret appears in any output, plan, journal or report, nor in clear in the state database", async () => {
    const invName = (parse(readFileSync(inv, "utf8")) as { name: string }).name;
    const cak = JSON.parse((await stateSecret({ stateDir: state }, invName, "macsec/a1-b1-macsec"))!).cak as string;
    const master = readFileSync(join(dir, "mesh-master.key"), "utf8").trim();
    const snmp = Object.values(parse(readFileSync(join(dir, "secrets.yaml"), "utf8")) as Record<string, string>);
    expect(snmp.length).toBe(4);
    const texts = [
      ...outputs,
      readFileSync(join(root, "plan.json"), "utf8"),
      JSON.stringify(await stateJournal({ stateDir: state }, invName)),
      stateFileText(join(state, "state.sqlite")),
      readFileSync(join(root, "verify.json"), "utf8"),
    ];
    for (const t of texts)
      for (const s of [cak, master, ...snmp]) expect(t.includes(s), `a secret leaked into: ${t.slice(0, 80)}`).toBe(false);
  });
});
