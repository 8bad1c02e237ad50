import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { labAddHost, labDown, readLab, type LabState } from "../../src/lab/lab.js";
import { ViciClient } from "../../src/transport/vici.js";
import { cli } from "../cli-run.js";

/**
 * End to end on a real lab: 4 network namespaces on a bridge, each with its own charon (kernel-libipsec), driven
 * only through the CLI (lab up, mesh deliver/verify/repair/down/up). Faults are injected with real tools.
 */
const dir = join(mkdtempSync(join(tmpdir(), "lc-mesh-e2e-")), "lab");
const inv = join(dir, "inventory.yaml");
let lab: LabState;
type Finding = { a: string; b: string; status: string; spis?: { aIn: string; aOut: string } };

async function verify(): Promise<Finding[]> {
  const r = await cli("mesh", "verify", inv, "--json");
  return JSON.parse(r.out).pairs as Finding[];
}
const spiMap = (f: Finding[]) => Object.fromEntries(f.map((x) => [`${x.a}~${x.b}`, x.spis ? `${x.spis.aIn}/${x.spis.aOut}` : "-"]));
const healthy = (f: Finding[]) => f.every((x) => x.status === "up" || x.status === "idle");
const host = (name: string) => readLab(dir)!.hosts.find((h) => h.name === name)!;

beforeAll(async () => {
  const r = await cli("lab", "up", "examples/mesh-lab.yaml", "--name", "e2e", "--dir", dir);
  expect(r.code, r.out + r.err).toBe(0);
  lab = readLab(dir)!;
}, 60_000);
afterAll(async () => {
  await labDown(dir);
});

describe("mesh: end to end on the lab", () => {
  let spis: Record<string, string> = {};

  it("1. plan -> render -> deliver: all 6 pairs up", async () => {
    const r = await cli("mesh", "deliver", inv, "--lab");
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/6\/6 pairs up/);
    const f = await verify();
    expect(f).toHaveLength(6);
    expect(healthy(f)).toBe(true);
    spis = spiMap(f);
    // the swanctl files are on disk for a reboot, with the secrets apart and private
    const h = host("app1");
    const conf = readFileSync(join(h.dir, "swanctl", "conf.d", "linkcrypt-mesh.conf"), "utf8");
    expect(conf).toMatch(/mesh-db1 \{/);
    expect(conf).not.toMatch(/secret\s*=/);
    const mode = execFileSync("stat", ["-c", "%a", join(h.dir, "swanctl", "conf.d", "linkcrypt-secrets.conf")])
      .toString()
      .trim();
    expect(mode).toBe("600");
  });

  it("2. traffic passes between every pair, and the wire shows only ESP in UDP 4500, never the payload", async () => {
    const pcap = join(dir, "wire.pcap");
    const td = spawn("ip", ["netns", "exec", lab.bridgeNetns, "tcpdump", "--immediate-mode", "-i", "br0", "-U", "-w", pcap], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    // tcpdump says "listening on br0" once it captures
    await new Promise<void>((resolve) => td.stderr!.on("data", (d: Buffer) => /listening on/.test(d.toString()) && resolve()));
    const pattern = "6c696e6b63727970744c4162"; // "linkcryptLAb"
    for (const a of lab.hosts)
      for (const b of lab.hosts)
        if (a.name < b.name)
          execFileSync("ip", ["netns", "exec", a.netns, "ping", "-c", "2", "-i", "0.2", "-W", "2", "-p", pattern, b.address]);
    await new Promise((r) => setTimeout(r, 1000));
    td.kill("SIGINT");
    await new Promise((r) => td.once("exit", r));
    const lines = execFileSync("tcpdump", ["-nn", "-r", pcap], { stderr: "ignore" } as never)
      .toString()
      .trim()
      .split("\n")
      .filter(Boolean);
    // Host-to-host packets only (the bridge itself may send IGMP or similar, which carries no host data).
    const addrs = lab.hosts.map((h) => h.address);
    const ip = lines.filter((l) => / IP /.test(l) && addrs.some((a) => l.includes(` ${a}.`)) && addrs.some((a) => l.includes(`> ${a}.`)));
    // Every IP packet is UDP 4500 <-> 4500: ESP in UDP, or IKE itself (NONESP-encap); nothing in clear.
    for (const l of ip) expect(l).toMatch(/\.4500 > [\d.]+\.4500: (UDP-encap: ESP|NONESP-encap: isakmp)/);
    // and every pair's traffic was seen, as ESP
    const esp = ip.filter((l) => /UDP-encap: ESP/.test(l));
    for (const a of lab.hosts)
      for (const b of lab.hosts)
        if (a.name < b.name)
          expect(
            esp.some((l) => l.includes(` ${a.address}.4500 > ${b.address}.4500`)),
            `${a.name} -> ${b.name}`,
          ).toBe(true);
    expect(readFileSync(pcap).includes(Buffer.from(pattern, "hex"))).toBe(false);
    const f = await verify();
    expect(f.every((x) => x.status === "up")).toBe(true); // traffic flowed: no pair is idle any more
  });

  it("3. a host that lost its inbound SA shows as exactly one half pair, and repair fixes only it", async () => {
    const a = host("app1");
    // app1 drops its SAs with db1 while it cannot tell db1: db1 keeps sending into SPIs app1 no longer has.
    execFileSync("ip", ["-n", a.netns, "link", "set", "eth0", "down"]);
    const v = await ViciClient.connect({ device: "app1", socketPath: a.viciSocket });
    await v.request("terminate", { ike: "mesh-db1", force: "yes", timeout: "1000" }).catch(() => undefined);
    v.close();
    execFileSync("ip", ["-n", a.netns, "link", "set", "eth0", "up"]);
    const f = await verify();
    const bad = f.filter((x) => x.status !== "up" && x.status !== "idle");
    expect(bad.map((x) => `${x.a}~${x.b}:${x.status}`)).toEqual(["app1~db1:half"]);
    const r = await cli("mesh", "repair", inv);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/app1~db1\s+re-initiated/);
    const after = spiMap(await verify());
    for (const [pair, s] of Object.entries(spis)) {
      if (pair === "app1~db1") expect(after[pair]).not.toBe(s);
      else expect(after[pair]).toBe(s);
    }
    spis = after;
  });

  it("4. adding a 5th host leaves the 6 existing pairs' SPIs alone; removing one leaves the others alone", async () => {
    const h = await labAddHost(dir, "db3");
    const doc = parse(readFileSync(inv, "utf8"));
    const db1 = doc.devices.find((d: { name: string }) => d.name === "db1");
    doc.devices.push({
      ...db1,
      name: "db3",
      management: { address: h.address, transport: "local" },
      addresses: { ipv4: h.address },
      vici: { socket: h.viciSocket, confDir: join(h.dir, "swanctl", "conf.d") },
    });
    writeFileSync(inv, stringify(doc));
    const r = await cli("mesh", "deliver", inv, "--lab");
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/10\/10 pairs up/);
    const five = spiMap(await verify());
    for (const [pair, s] of Object.entries(spis)) expect(five[pair]).toBe(s);

    doc.devices = doc.devices.filter((d: { name: string }) => d.name !== "app2");
    writeFileSync(inv, stringify(doc));
    const r2 = await cli("mesh", "deliver", inv, "--lab", "--json");
    expect(r2.code, r2.out).toBe(0);
    const unloaded = JSON.parse(r2.out).hosts.flatMap((x: { unloaded: string[] }) => x.unloaded);
    // Each remaining host drops the departed peer's ESP connection and its drop shunt, and the pair's PSK.
    expect(unloaded.sort()).toEqual([...Array(4).fill("block-app2"), ...Array(4).fill("mesh-app2")]);
    const secrets = JSON.parse(r2.out).hosts.flatMap((x: { secretsUnloaded: string[] }) => x.secretsUnloaded);
    expect(secrets).toHaveLength(4);
    for (const id of secrets) expect(id).toMatch(/app2/);
    const four = spiMap(await verify());
    expect(Object.keys(four)).toHaveLength(6);
    for (const [pair, s] of Object.entries(four)) expect(s).toBe(five[pair]);
  });

  it("5. mesh down refuses without --block or --clear (exit 64); --clear needs --reason", async () => {
    const bare = await cli("mesh", "down", inv, "--json");
    expect(bare.code).toBe(64);
    expect(bare.out).toMatch(/--block/);
    expect(bare.out).toMatch(/--clear/);
    const noReason = await cli("mesh", "down", inv, "--clear");
    expect(noReason.code).toBe(64);
  });

  it("5b. mesh down --block takes every pair down and verifies it; mesh up restores every pair", async () => {
    const d = await cli("mesh", "down", inv, "--block", "--json");
    expect(d.code, d.out).toBe(0);
    expect(JSON.parse(d.out).hosts.every((h: { remainingSas: number }) => h.remainingSas === 0)).toBe(true);
    const s = JSON.parse((await cli("mesh", "status", inv, "--json")).out);
    expect(s.hosts.every((h: { childrenInstalled: number }) => h.childrenInstalled === 0)).toBe(true);
    const u = await cli("mesh", "up", inv, "--lab");
    expect(u.code, u.out + u.err).toBe(0);
    expect(u.out).toMatch(/6\/6 pairs up/);
    expect(healthy(await verify())).toBe(true);
  });

  it("6. a PSK roll keeps every SA up (same SPIs); the new key works for the next negotiation", async () => {
    const before = spiMap(await verify());
    const r = await cli("rotate", "mesh", "dc1-lan", "--inventory", inv, "--state-dir", join(dir, "state"), "--lab");
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.out).toMatch(/6\/6 pairs up, connections reloaded: 0/);
    expect(spiMap(await verify())).toEqual(before);
    // renegotiate one pair from scratch: only the new PSK is loaded now, so this proves it works
    const a = host("app1");
    const v = await ViciClient.connect({ device: "app1", socketPath: a.viciSocket });
    await v.request("terminate", { ike: "mesh-db1", timeout: "3000" });
    await v.request("initiate", { ike: "mesh-db1", child: "mesh-db1", timeout: "10000" });
    v.close();
    const after = await verify();
    expect(healthy(after)).toBe(true);
    expect(spiMap(after)["app1~db1"]).not.toBe(before["app1~db1"]);
  });
});
