import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
  consoleTail,
  kernelLabAddVm,
  kernelLabDown,
  kernelLabRemoveVm,
  readKernelLab,
  rebootVm,
  vmExec,
  type KernelLabState,
} from "../../src/lab/kernel/vm-lab.js";
import { loadAll, planFromLoaded, cliAccess } from "../../src/cli/load.js";
import { meshHostsFor } from "../../src/mesh/mesh-access.js";
import { meshConnSpecs } from "../../src/planner/conn-spec.js";
import { loadedSharedIds } from "../../src/mesh/deliver.js";
import { SshPool } from "../../src/transport/ssh.js";
import type { Inventory } from "../../src/model/inventory-schema.js";
import { cli } from "../cli-run.js";
import { Capture, MARKER_HEX } from "./wire.js";

/**
 * The host mesh on real kernels (issue 8): four QEMU VMs on Debian's 6.12 kernel, charon on kernel-netlink, ESP in
 * transport mode, two hosts with netdevsim ESP offload. Driven only through the CLI; faults are injected with the
 * real tools (swanctl, kill -9, ip xfrm); the wire is read by tcpdump on the lab bridge.
 *
 * LINKCRYPT_KLAB_REUSE=<dir> runs against a lab that is already up (development only).
 */
const reuse = process.env.LINKCRYPT_KLAB_REUSE;
const dir = reuse ?? join(mkdtempSync(join(tmpdir(), "lc-klab-")), "lab");
const inv = join(dir, "inventory.yaml");
const work = mkdtempSync(join(tmpdir(), "lc-klab-work-"));
let lab: KernelLabState;
let K: string[];
const figures: Record<string, unknown> = {};

type Finding = { a: string; b: string; status: string; severity: string; detail: string; spis?: { aIn: string; aOut: string } };
type VerifyOut = {
  pairs: Finding[];
  kernel: {
    host: string;
    xfrmStat?: Record<string, number>;
    xfrmDeltas: { counter: string; delta: number }[];
    protection?: Record<string, string>;
  }[];
  exceptions: { reason: string }[];
};

const addr = (vm: string) => lab.vms.find((v) => v.name === vm)!.address;
async function sh(vm: string, cmd: string, timeoutMs = 120_000): Promise<string> {
  const r = await vmExec(lab, vm, cmd, timeoutMs);
  return r.stdout;
}
async function verify(): Promise<VerifyOut> {
  const r = await cli("mesh", "verify", inv, ...K, "--json");
  const v = JSON.parse(r.out) as VerifyOut;
  if (!Array.isArray(v.pairs)) throw new Error(`mesh verify gave no pairs (exit ${r.code}): ${r.out}${r.err}`);
  return v;
}
const spiMap = (f: Finding[]) => Object.fromEntries(f.map((x) => [`${x.a}~${x.b}`, x.spis ? `${x.spis.aIn}/${x.spis.aOut}` : "-"]));
const healthy = (f: Finding[]) => f.every((x) => x.status === "up" || x.status === "idle");
/** Pings with the marker as payload; returns how many replies came back. */
async function ping(from: string, to: string, count = 3, interval = 0.2): Promise<number> {
  const out = await sh(from, `ping -c ${count} -i ${interval} -W 1 -p ${MARKER_HEX} ${addr(to)} 2>&1 | tail -2`);
  return Number(/(\d+) received/.exec(out)?.[1] ?? 0);
}
/** A bounded background ping in the VM (both directions get one), with the marker. */
async function pingInBackground(from: string, to: string, seconds: number): Promise<void> {
  await sh(from, `ping -c ${Math.round(seconds * 2)} -i 0.5 -W 1 -p ${MARKER_HEX} ${addr(to)} >/tmp/bg-${to}.log 2>&1 &`);
}
/** The pair's INSTALLED CHILD_SAs as one side's charon lists them: [in, out] SPIs. */
async function childSpis(vm: string, peer: string): Promise<[string, string][]> {
  const text = await sh(vm, `swanctl --list-sas --ike mesh-${peer} 2>/dev/null`);
  const out: [string, string][] = [];
  let cur: { in?: string; installed: boolean } | undefined;
  for (const line of text.split("\n")) {
    if (/^\s+mesh-\S+: #\d+, reqid/.test(line)) cur = { installed: /INSTALLED/.test(line) };
    const m = /^\s+(in|out)\s+([0-9a-f]{8})/.exec(line);
    if (m && cur?.installed) {
      if (m[1] === "in") cur.in = m[2]!;
      else if (cur.in) out.push([cur.in, m[2]!]);
    }
  }
  return out;
}
/**
 * Healed: both charons list a mirrored INSTALLED CHILD_SA whose four SPIs both kernels hold, and a ping is answered.
 * Polled once a second up to `boundS`; returns the seconds since `t0`, or Infinity.
 */
async function secondsUntilHealed(a: string, b: string, t0: number, boundS: number): Promise<number> {
  for (;;) {
    const [sa, sb, ka, kb] = await Promise.all([childSpis(a, b), childSpis(b, a), sh(a, "ip xfrm state"), sh(b, "ip xfrm state")]);
    const mirrored = sa.find(
      ([i, o]) =>
        sb.some(([i2, o2]) => i2 === o && o2 === i) &&
        ka.includes(`0x${i}`) &&
        ka.includes(`0x${o}`) &&
        kb.includes(`0x${i}`) &&
        kb.includes(`0x${o}`),
    );
    if (mirrored && (await ping(a, b, 1)) === 1) return (Date.now() - t0) / 1000;
    if ((Date.now() - t0) / 1000 > boundS) return Infinity;
    await new Promise((r) => setTimeout(r, 1000));
  }
}
async function withCapture<T>(name: string, fn: () => Promise<T>) {
  const cap = new Capture(lab.netns, join(work, `${name}.pcap`));
  await cap.start();
  try {
    const result = await fn();
    return { result, wire: await cap.stop() };
  } catch (e) {
    await cap.stop();
    throw e;
  }
}

beforeAll(async () => {
  if (!reuse) {
    const t0 = Date.now();
    const r = await cli(
      "lab",
      "up",
      "examples/mesh-kernel-lab.yaml",
      "--datapath",
      "kernel",
      "--name",
      `kt${process.pid}`,
      "--dir",
      dir,
      "--json",
    );
    expect(r.code, r.out + r.err).toBe(0);
    figures.labUpSeconds = (Date.now() - t0) / 1000;
  }
  lab = readKernelLab(dir)!;
  K = ["--known-hosts", lab.knownHosts];
}, 400_000);

afterAll(async () => {
  writeFileSync(join(work, "figures.json"), `${JSON.stringify(figures, null, 2)}\n`);
  // Keep each VM's console and charon log beside the figures, and show any guest kernel oops in the test output.
  for (const vm of readKernelLab(dir)?.vms ?? []) {
    for (const f of ["console.log", "charon.log"]) {
      try {
        copyFileSync(join(vm.dir, f), join(work, `${vm.name}-${f}`));
      } catch {
        /* not written */
      }
    }
    const tail = consoleTail(vm, 400);
    if (/Oops|Kernel panic|BUG:/.test(tail)) console.log(`${vm.name}: guest kernel trouble:\n${tail}`);
  }
  console.log(`kernel lab figures (${join(work, "figures.json")}): ${JSON.stringify(figures)}`);
  if (!reuse) await kernelLabDown(dir);
}, 120_000);

describe("mesh on real kernels: transport mode, kernel xfrm, netdevsim offload", () => {
  let spis: Record<string, string> = {};

  it("1. delivery: all 6 pairs up in transport mode; the wire shows ESP (IP protocol 50, not UDP 4500) and no marker", async () => {
    const t0 = Date.now();
    const d = await cli("mesh", "deliver", inv, ...K, "--json");
    figures.deliverSeconds = (Date.now() - t0) / 1000;
    expect(d.code, d.out + d.err).toBe(0);
    expect(JSON.parse(d.out)).toMatchObject({ pairsUp: 6, pairs: 6 });
    const { wire } = await withCapture("deliver", async () => {
      for (const [a, b] of [
        ["app1", "app2"],
        ["app1", "db1"],
        ["app1", "db2"],
        ["app2", "db1"],
        ["app2", "db2"],
        ["db1", "db2"],
      ] as const) {
        expect(await ping(a!, b!), `${a} -> ${b}`).toBe(3);
        expect(await ping(b!, a!), `${b} -> ${a}`).toBe(3);
      }
    });
    expect(wire.esp).toBeGreaterThanOrEqual(6 * 2 * 3 * 2);
    expect(wire.udpEncapEsp).toBe(0);
    expect(wire.clearIcmp).toEqual([]);
    expect(wire.markerSeen).toBe(false);
    const v = await verify();
    expect(healthy(v.pairs), JSON.stringify(v.pairs)).toBe(true);
    for (const k of v.kernel)
      expect(
        Object.values(k.protection ?? {}).every((p) => p === "esp"),
        `${k.host}: ${JSON.stringify(k.protection)}`,
      ).toBe(true);
    spis = spiMap(v.pairs);
    for (const vm of lab.vms) expect(await sh(vm.name, "ip xfrm state")).toMatch(/mode transport/);
  }, 300_000);

  it("2. offload matches the plan: crypto offload on exactly the sides the plan chose; discover's facts give the same plan", async () => {
    const plan = planFromLoaded(loadAll(inv, []))!;
    const mesh = plan.meshes[0]!;
    for (const vm of lab.vms) {
      const specs = meshConnSpecs(mesh, vm.name, { strongswanVersion: "5.9.8" });
      const state = await sh(vm.name, "ip xfrm state");
      const blocks = state.split(/^(?=src )/m).filter((b) => b.startsWith("src "));
      expect(blocks.length, vm.name).toBeGreaterThanOrEqual(6);
      for (const b of blocks) {
        const [, src, dst] = /^src (\S+) dst (\S+)/.exec(b)!;
        const peer = lab.vms.find((x) => x.address === (src === vm.address ? dst : src))!.name;
        const want = specs.find((s) => s.peer === peer)!.children[0]!.hwOffload !== "no";
        const dirWanted = src === vm.address ? "out" : "in";
        if (want) expect(b, `${vm.name} SA ${src}->${dst}`).toMatch(new RegExp(`crypto offload parameters: dev nsim0 dir ${dirWanted}`));
        else expect(b, `${vm.name} SA ${src}->${dst}`).not.toMatch(/offload parameters/);
      }
    }
    const facts = join(work, "facts.json");
    const d = await cli("discover", inv, ...K, "--out", facts, "--json");
    expect(d.code, d.out + d.err).toBe(0);
    const f = JSON.parse(readFileSync(facts, "utf8")) as {
      devices: Record<string, { nics?: { name: string; espHwOffload?: unknown }[]; kernelAlgorithms?: unknown }>;
    };
    expect(JSON.stringify(f.devices.app1)).toMatch(/nsim0/);
    expect(JSON.stringify(f.devices.app1)).toMatch(/gcm\(aes\)/);
    const withFacts = planFromLoaded(loadAll(inv, [], facts))!.meshes[0]!;
    for (const vm of lab.vms) {
      const a = meshConnSpecs(mesh, vm.name, { strongswanVersion: "5.9.8" }).map((s) => [
        s.peer,
        s.children[0]!.espProposal,
        s.children[0]!.hwOffload,
      ]);
      const b = meshConnSpecs(withFacts, vm.name, { strongswanVersion: "5.9.8" }).map((s) => [
        s.peer,
        s.children[0]!.espProposal,
        s.children[0]!.hwOffload,
      ]);
      expect(b, vm.name).toEqual(a);
    }
  }, 300_000);

  it("3. half pair, the real way: an inbound SA deleted in db1's kernel is exactly one half pair, XfrmInNoStates grows on db1, nothing in clear, and repair fixes only it", async () => {
    await verify(); // baseline for the xfrm_stat deltas
    const spi = (await sh("db1", `ip xfrm state list src ${addr("app1")} dst ${addr("db1")}`)).match(/spi (0x[0-9a-f]+)/)![1]!;
    const { result: v, wire } = await withCapture("half", async () => {
      await sh("db1", `ip xfrm state delete src ${addr("app1")} dst ${addr("db1")} proto esp spi ${spi}`);
      expect(await ping("app1", "db1", 4)).toBe(0);
      return verify();
    });
    const bad = v.pairs.filter((p) => p.status !== "up" && p.status !== "idle");
    expect(bad.map((p) => [p.a, p.b, p.status])).toEqual([["app1", "db1", "half"]]);
    expect(v.kernel.find((k) => k.host === "db1")!.xfrmDeltas.find((d) => d.counter === "XfrmInNoStates")?.delta ?? 0).toBeGreaterThan(0);
    expect(wire.clearIcmp).toEqual([]);
    expect(wire.markerSeen).toBe(false);
    const r = await cli("mesh", "repair", inv, ...K, "--json");
    expect(r.code, r.out + r.err).toBe(0);
    expect(JSON.parse(r.out).repaired.map((x: { pair: string }) => x.pair)).toEqual(["app1~db1"]);
    const after = spiMap((await verify()).pairs);
    for (const [pair, s] of Object.entries(spis)) if (pair !== "app1~db1") expect(after[pair], pair).toBe(s);
    expect(after["app1~db1"]).not.toBe(spis["app1~db1"]);
    spis = after;
  }, 300_000);

  const faults: { name: string; pair: [string, string]; boundS: number; inject: () => Promise<void> }[] = [
    {
      name: "IKE_SA terminated on the responder",
      pair: ["app1", "db1"],
      boundS: 30,
      inject: async () => void (await sh("db1", "swanctl --terminate --ike mesh-app1 --force >/dev/null 2>&1")),
    },
    // db2 answers for all its pairs; its charon is restarted by the VM's supervisor (as systemd would) and loads the
    // rendered swanctl.conf; the initiators notice by DPD (30 s) and retransmits (about 26 s), then re-initiate.
    {
      name: "charon killed with SIGKILL",
      pair: ["app1", "db2"],
      boundS: 150,
      // Returns once the supervisor has started a new charon, so the heal clock cannot stop on the old daemon.
      inject: async () =>
        void (await sh(
          "db2",
          'old=$(pidof charon); kill -9 $old; for i in $(seq 100); do p=$(pidof charon); [ -n "$p" ] && [ "$p" != "$old" ] && [ -f /run/linkcrypt-charon-ready ] && break; sleep 0.2; done',
        )),
    },
    {
      name: "every SA of the pair deleted in both kernels",
      pair: ["app2", "db1"],
      boundS: 60,
      inject: async () => {
        for (const vm of ["app2", "db1"])
          await sh(
            vm,
            `ip xfrm state deleteall src ${addr("app2")} dst ${addr("db1")}; ip xfrm state deleteall src ${addr("db1")} dst ${addr("app2")}`,
          );
      },
    },
  ];
  for (const [i, f] of faults.entries())
    it(`4${"abc"[i]}. fail closed: ${f.name} - no clear packet, and the pair heals by itself within ${f.boundS} s`, async () => {
      const [a, b] = f.pair;
      const { result: healedS, wire } = await withCapture(`fault-${i}`, async () => {
        await pingInBackground(a, b, f.boundS);
        await pingInBackground(b, a, f.boundS);
        const t0 = Date.now();
        await f.inject();
        return secondsUntilHealed(a, b, t0, f.boundS);
      });
      (figures.healSeconds ??= {} as Record<string, number>) && ((figures.healSeconds as Record<string, number>)[f.name] = healedS);
      (figures.clearPackets ??= {} as Record<string, number>) &&
        ((figures.clearPackets as Record<string, number>)[f.name] = wire.clearIcmp.length);
      expect(wire.clearIcmp, "cleartext ICMP on the wire").toEqual([]);
      expect(wire.markerSeen, "the marker payload on the wire").toBe(false);
      expect(wire.udpEncapEsp).toBe(0);
      expect(healedS).toBeLessThanOrEqual(f.boundS);
      expect(await ping(b, a, 2)).toBe(2);
    }, 400_000);

  it("4d. mesh down --block: member traffic is dropped (never clear) until mesh up, which heals every pair", async () => {
    const { wire } = await withCapture("block", async () => {
      const d = await cli("mesh", "down", inv, ...K, "--block", "--json");
      expect(d.code, d.out + d.err).toBe(0);
      expect(await ping("app1", "db2", 3)).toBe(0);
      expect(await ping("db2", "app1", 3)).toBe(0);
      const v = await verify();
      expect(
        v.pairs.every((p) => p.status === "down" && /fail-closed/.test(p.detail)),
        JSON.stringify(v.pairs),
      ).toBe(true);
    });
    expect(wire.clearIcmp).toEqual([]);
    expect(wire.markerSeen).toBe(false);
    const t0 = Date.now();
    const u = await cli("mesh", "up", inv, ...K, "--json");
    expect(u.code, u.out + u.err).toBe(0);
    figures.upAfterBlockSeconds = (Date.now() - t0) / 1000;
    expect(await ping("app1", "db2", 2)).toBe(2);
  }, 400_000);

  it("4e. mesh down --clear --reason: members talk in clear, and verify, report and metrics show the exception until mesh up", async () => {
    const { wire } = await withCapture("clear", async () => {
      const d = await cli("mesh", "down", inv, ...K, "--clear", "--reason", "kernel lab: clear exception test");
      expect(d.code, d.out + d.err).toBe(0);
      expect(d.out).toMatch(/UNENCRYPTED/);
      expect(await ping("app1", "db2", 3)).toBe(3);
    });
    expect(wire.clearIcmp.length).toBeGreaterThan(0);
    expect(wire.markerSeen).toBe(true);
    const v = await verify();
    expect(v.exceptions.map((x) => x.reason)).toEqual(["kernel lab: clear exception test"]);
    expect(v.pairs.every((p) => p.status === "cleartext-possible" && /by exception: kernel lab/.test(p.detail))).toBe(true);
    const vf = join(work, "verify-clear.json");
    expect((await cli("verify", inv, ...K, "--out", vf)).code).toBe(1);
    const rep = await cli("report", inv, "--verify", vf, "--format", "md");
    expect(rep.out).toMatch(/kernel lab: clear exception test/);
    const met = await cli("metrics", inv, "--verify", vf);
    expect(met.out).toMatch(/linkcrypt_mesh_cleartext_exception\{[^}]*reason="kernel lab: clear exception test"[^}]*\} 1/);
    const u = await cli("mesh", "up", inv, ...K, "--json");
    expect(u.code, u.out + u.err).toBe(0);
    const after = await verify();
    expect(after.exceptions).toEqual([]);
    expect(healthy(after.pairs)).toBe(true);
    spis = spiMap(after.pairs);
  }, 400_000);

  it("5. membership: a 5th VM joins and one leaves; unaffected pairs keep their SPIs, nothing crosses in clear, the departed host's PSK is gone", async () => {
    const doc = parse(readFileSync(inv, "utf8")) as { devices: Record<string, unknown>[] };
    const { wire } = await withCapture("membership", async () => {
      await pingInBackground("app1", "db1", 150);
      const vm = await kernelLabAddVm(dir, "ops1", false);
      lab = readKernelLab(dir)!;
      const db2 = doc.devices.find((d) => d.name === "db2")!;
      doc.devices.push({
        ...db2,
        name: "ops1",
        management: { address: "127.0.0.1", port: vm.sshPort, transport: "ssh" },
        addresses: { ipv4: vm.address },
      });
      writeFileSync(inv, stringify(doc));
      const t0 = Date.now();
      const j = await cli("mesh", "deliver", inv, ...K, "--json");
      figures.joinSeconds = (Date.now() - t0) / 1000;
      expect(j.code, j.out + j.err).toBe(0);
      expect(JSON.parse(j.out)).toMatchObject({ pairsUp: 10, pairs: 10 });
      const five = spiMap((await verify()).pairs);
      for (const [pair, s] of Object.entries(spis)) expect(five[pair], pair).toBe(s);
      doc.devices = doc.devices.filter((d) => d.name !== "db2");
      writeFileSync(inv, stringify(doc));
      const l = await cli("mesh", "deliver", inv, ...K, "--json");
      expect(l.code, l.out + l.err).toBe(0);
      const four = spiMap((await verify()).pairs);
      expect(Object.keys(four)).toHaveLength(6);
      for (const [pair, s] of Object.entries(four)) expect(s, pair).toBe(five[pair]);
      // No remaining charon holds a PSK for a pair with db2.
      const loaded = loadAll(inv, []);
      const mesh = planFromLoaded(loaded)!.meshes[0]!;
      const pool = new SshPool();
      try {
        for (const h of meshHostsFor(loaded.data as Inventory, mesh, pool, cliAccess({ knownHosts: lab.knownHosts }))) {
          const v = await h.vici();
          const ids = await loadedSharedIds(v);
          v.close();
          expect(ids, h.name).toBeDefined();
          expect(
            [...ids!].filter((x) => x.includes("db2")),
            h.name,
          ).toEqual([]);
          expect(
            [...ids!].some((x) => x.includes("ops1")),
            h.name,
          ).toBe(true);
        }
      } finally {
        await pool.closeAll();
      }
    });
    const leaked = wire.clearIcmp.filter((l) => !l.includes(addr("db2")));
    expect(leaked).toEqual([]);
    expect(wire.markerSeen).toBe(false);
    await kernelLabRemoveVm(dir, "db2");
    lab = readKernelLab(dir)!;
  }, 600_000);

  it("6. rekey under traffic: 3 CHILD_SA rekeys with a continuous ping lose no packet and stay ESP", async () => {
    const profiles = join(work, "profiles");
    mkdirSync(join(profiles, "policies"), { recursive: true });
    const pol = parse(readFileSync("profiles/policies/default.yaml", "utf8")) as { name: string; lifetimes: { childSeconds: number } };
    pol.name = "kernel-lab-short-child";
    pol.lifetimes.childSeconds = 14;
    writeFileSync(join(profiles, "policies", "kernel-lab-short-child.yaml"), stringify(pol));
    const doc = parse(readFileSync(inv, "utf8")) as { policy: string };
    doc.policy = "kernel-lab-short-child";
    const short = join(work, "inventory-short.yaml");
    writeFileSync(short, stringify(doc));
    copyFileSync(inv, join(work, "inventory-before-rekey.yaml"));
    const d = await cli("mesh", "deliver", short, ...K, "--profiles", profiles, "--json");
    expect(d.code, d.out + d.err).toBe(0);
    // Re-initiate the measured pair so its CHILD_SA carries the 14 s lifetime from now on.
    await sh("app1", "swanctl --terminate --ike mesh-db1 --force >/dev/null 2>&1; swanctl --initiate --child mesh-db1 >/dev/null 2>&1");
    const { result: out, wire } = await withCapture("rekey", () =>
      sh("app1", `ping -c 125 -i 0.4 -W 2 -p ${MARKER_HEX} ${addr("db1")} 2>&1 | tail -2`, 200_000),
    );
    const [, sent, got] = /(\d+) packets transmitted, (\d+) received/.exec(out)!;
    const spisSeen = new Set(
      wire.lines
        .filter((l) => l.includes(`IP ${addr("app1")} > ${addr("db1")}`))
        .map((l) => /spi=(0x[0-9a-f]+)/.exec(l)?.[1])
        .filter(Boolean),
    );
    figures.rekey = { sent: Number(sent), received: Number(got), spisFromApp1ToDb1: spisSeen.size };
    expect(spisSeen.size).toBeGreaterThanOrEqual(4);
    expect(Number(got)).toBe(Number(sent));
    expect(wire.clearIcmp).toEqual([]);
    expect(wire.markerSeen).toBe(false);
  }, 400_000);

  it("7. kernel counters: the xfrm_stat figures in verify and metrics are the kernel's own", async () => {
    const read = async () =>
      Object.fromEntries(
        (await sh("db1", "cat /proc/net/xfrm_stat"))
          .trim()
          .split("\n")
          .map((l) => l.trim().split(/\s+/))
          .map(([k, v]) => [k!, Number(v)]),
      );
    const before = await read();
    const vf = join(work, "verify-counters.json");
    await cli("verify", inv, ...K, "--out", vf);
    const after = await read();
    const file = JSON.parse(readFileSync(vf, "utf8")) as { hosts: { host: string; xfrmStat?: Record<string, number> }[] };
    const got = file.hosts.find((h) => h.host === "db1")!.xfrmStat!;
    expect(Object.keys(got).sort()).toEqual(Object.keys(before).sort());
    for (const k of Object.keys(before)) {
      expect(got[k]!, k).toBeGreaterThanOrEqual(before[k]!);
      expect(got[k]!, k).toBeLessThanOrEqual(after[k]!);
    }
    expect(got.XfrmInNoStates).toBeGreaterThan(0); // step 3 made it grow
    const met = await cli("metrics", inv, "--verify", vf);
    expect(met.out).toContain(`linkcrypt_xfrm_stat_total{mesh="dc1-lan",host="db1",counter="XfrmInNoStates"} ${got.XfrmInNoStates}`);
  }, 300_000);

  it("8. a reboot comes back fail-closed from the rendered swanctl.conf and heals", async () => {
    const { result: healedS, wire } = await withCapture("reboot", async () => {
      await pingInBackground("app1", "db1", 120);
      const t0 = Date.now();
      figures.rebootBootSeconds = (await rebootVm(lab, "db1")) / 1000;
      // charon's start script loads the rendered swanctl.conf: the drop shunts come first.
      const pols = await sh(
        "db1",
        'for i in $(seq 60); do ip xfrm policy | grep -q "action block" && break; sleep 0.5; done; ip xfrm policy',
      );
      expect(pols).toMatch(/action block priority 2000000/);
      return secondsUntilHealed("app1", "db1", t0, 150);
    });
    figures.rebootHealSeconds = healedS;
    figures.rebootIkePortUnreachable = wire.ikePortUnreachable.length;
    expect(wire.clearIcmp).toEqual([]);
    expect(wire.markerSeen).toBe(false);
    expect(healedS).toBeLessThanOrEqual(150);
  }, 400_000);
});
