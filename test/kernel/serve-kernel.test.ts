import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { kernelLabDown, readKernelLab, vmExec, type KernelLabState } from "../../src/lab/kernel/vm-lab.js";
import { cli } from "../cli-run.js";
import { median, promtoolCheck, startServe, type ServeProc } from "../lab/serve-proc.js";
import { Capture, MARKER_HEX } from "./wire.js";

/**
 * `linkcrypt serve` against real kernels, through the production path: each host's VICI socket reached over SSH
 * streamlocal (no local socket, no libipsec), events from charon on kernel-netlink, repairs checked in the kernel's
 * own xfrm state and on the wire. Two QEMU VMs (app1 with a netdevsim ESP-offload port, db1 without).
 */
const root = mkdtempSync(join(tmpdir(), "lc-serve-klab-"));
const dir = join(root, "lab");
const inv = join(dir, "inventory.yaml");
const stateFile = join(root, "state.sqlite");
let lab: KernelLabState;
let K: string[];
let serve: ServeProc | undefined;

const addr = (vm: string) => lab.vms.find((v) => v.name === vm)!.address;
const sh = async (vm: string, cmd: string) => (await vmExec(lab, vm, cmd, 120_000)).stdout;

beforeAll(async () => {
  // The four-host kernel example cut to two hosts: one pair, so the lab boots in half the time.
  const full = parse(readFileSync("examples/mesh-kernel-lab.yaml", "utf8")) as { devices: { name: string }[]; name: string };
  const two = { ...full, name: "kserve2", devices: full.devices.filter((d) => d.name === "app1" || d.name === "db1") };
  const src = join(root, "two-hosts.yaml");
  writeFileSync(src, stringify(two));
  const r = await cli("lab", "up", src, "--datapath", "kernel", "--name", `ks${process.pid}`, "--dir", dir, "--json");
  expect(r.code, r.out + r.err).toBe(0);
  lab = readKernelLab(dir)!;
  K = ["--known-hosts", lab.knownHosts];
  const d = await cli("mesh", "deliver", inv, ...K, "--json");
  expect(d.code, d.out + d.err).toBe(0);
  serve = await startServe([inv, ...K, "--listen", "127.0.0.1:0", "--state", stateFile, "--interval", "60", "--max-attempts", "3"], {
    LINKCRYPT_SERVE_BACKOFF_MS: "500",
  });
  await serve.waitLog("first verify", (l) => l.msg === "verified", 120_000);
}, 600_000);

afterAll(async () => {
  if (serve) await serve.stop();
  await kernelLabDown(dir);
}, 120_000);

describe("serve on real kernels, VICI over SSH streamlocal", () => {
  it("watches both hosts' charons over SSH streamlocal (every host is managed over SSH)", async () => {
    const end = Date.now() + 60_000;
    let body = "";
    for (;;) {
      body = (await serve!.get("/metrics")).body;
      const up = [...body.matchAll(/^linkcrypt_serve_vici_connected\{[^}]*host="([^"]+)"[^}]*\} 1$/gm)].map((m) => m[1]);
      if (up.length === 2) break;
      if (Date.now() > end)
        throw new Error(
          `VICI streams not connected:\n${body
            .split("\n")
            .filter((l) => l.includes("vici"))
            .join("\n")}`,
        );
      await new Promise((r) => setTimeout(r, 500));
    }
    // Every host is managed over SSH: its VICI socket path is the VM's own, reached through SSH streamlocal.
    const hosts = (parse(readFileSync(inv, "utf8")) as { devices: { kind: string; management: { transport: string } }[] }).devices;
    expect(hosts.filter((d) => d.kind === "host").map((d) => d.management.transport)).toEqual(["ssh", "ssh"]);
  }, 90_000);

  it("repairs a pair whose IKE_SA the initiator tore down; the kernel holds the new SAs and the wire shows only ESP", async () => {
    const times: number[] = [];
    const cap = new Capture(lab.netns, join(root, "repair.pcap"));
    await cap.start();
    try {
      for (let round = 0; round < 3; round++) {
        const before = await sh("app1", "ip xfrm state | grep -c '^src'");
        const repaired = serve!.logs.filter((l) => l.msg === "repaired").length;
        const t0 = performance.now();
        // app1 (the lower name) initiates app1~db1; a local terminate triggers no close_action, so only serve brings it back.
        await sh("app1", "swanctl --terminate --ike mesh-db1 --force --timeout 2 >/dev/null 2>&1; true");
        await serve!.waitLog(`repair ${round + 1}`, () => serve!.logs.filter((l) => l.msg === "repaired").length > repaired, 120_000);
        times.push(performance.now() - t0);
        // the kernel of both hosts holds a fresh inbound and outbound SA for the pair again
        for (const vm of ["app1", "db1"]) expect(await sh(vm, "ip xfrm state | grep -c '^src'"), vm).toMatch(/^[2-9]/);
        expect(Number(before)).toBeGreaterThanOrEqual(2);
        const out = await sh("app1", `ping -c 3 -i 0.3 -W 1 -p ${MARKER_HEX} ${addr("db1")} 2>&1 | tail -2`);
        expect(out).toMatch(/3 received/);
      }
    } finally {
      const wire = await cap.stop();
      expect(wire.esp).toBeGreaterThanOrEqual(3 * 3 * 2);
      expect(wire.udpEncapEsp).toBe(0);
      expect(wire.clearIcmp).toEqual([]);
      expect(wire.markerSeen).toBe(false);
    }
    console.log(
      `serve on real kernels: terminate -> repaired, median ${median(times).toFixed(0)} ms over ${times.length} (${times
        .map((x) => x.toFixed(0))
        .join(", ")} ms)`,
    );
    const v = JSON.parse((await cli("mesh", "verify", inv, ...K, "--json")).out) as { pairs: { status: string }[] };
    expect(v.pairs.map((p) => p.status)).toEqual(["up"]);
  }, 600_000);

  it("/metrics from the kernel lab passes promtool, with the kernel's xfrm_stat counters per host", async () => {
    const body = (await serve!.get("/metrics")).body;
    const check = promtoolCheck(body);
    expect(check.code, check.out).toBe(0);
    expect(body).toMatch(/linkcrypt_xfrm_stat_total\{[^}]*host="app1"/);
    expect(body).toMatch(/linkcrypt_serve_repairs_total\{[^}]*result="repaired"[^}]*\} [3-9]/);
  });
});
