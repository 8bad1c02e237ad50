import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { HostAccess } from "../../src/mesh/host-access.js";
import { verifyMesh } from "../../src/mesh/operations.js";
import { parseXfrmStateSpis } from "../../drivers/linux-host/parsers/xfrm-state.js";
import type { ViciClient, ViciMessage } from "../../src/transport/vici.js";
import { plan } from "../helpers.js";

describe("mesh: verify against the kernel", () => {
  it("parses SPIs from `ip xfrm state` (both directions, offloaded)", () => {
    expect([...parseXfrmStateSpis(readFileSync("test/fixtures/hosts/ip-xfrm-state.txt", "utf8"))]).toEqual(["c1a2b3c4", "0d0e0f10"]);
  });

  it("compares daemon SPIs with the kernel's and reports xfrm_stat growth since the last verify (in-process fake hosts)", async () => {
    const inv = {
      version: 1,
      policy: "default",
      sites: [{ name: "s" }],
      devices: ["k1", "k2"].map((n, i) => ({
        name: n,
        kind: "host",
        site: "s",
        profile: "lab-netns-host",
        role: "r",
        addresses: { ipv4: `10.0.0.${i + 1}` },
        nics: [{ name: "eth0", profile: "virtio-net", speed: "10G", mtu: 1500 }],
      })),
      meshes: [{ name: "m", members: { roles: ["r"] }, mode: "transport" }],
    };
    const mesh = plan(inv).meshes[0]!;
    const sa = (peer: string, spiIn: string, spiOut: string): ViciMessage => ({
      [`mesh-${peer}`]: {
        state: "ESTABLISHED",
        "child-sas": { c: { name: `mesh-${peer}`, state: "INSTALLED", "spi-in": spiIn, "spi-out": spiOut, "use-in": "1", "use-out": "1" } },
      },
    });
    const files = new Map<string, string>([["/k1/linkcrypt-xfrm-stat.json", JSON.stringify({ XfrmInNoStates: 5 })]]);
    const policy = (src: string, dst: string) =>
      `src ${src}/32 dst ${dst}/32 \n\tdir out priority 367231 ptype main \n\ttmpl src 0.0.0.0 dst 0.0.0.0\n\t\tproto esp reqid 1 mode transport\n` +
      "src 0.0.0.0/0 dst 0.0.0.0/0 \n\tsocket out priority 0 ptype main \n";
    const fake = (name: string, peer: string, spiIn: string, spiOut: string, kernel: string, xfrmStat: string): HostAccess => ({
      name,
      confDir: `/${name}`,
      vici: async () =>
        ({
          stream: async () => ({ events: [sa(peer, spiIn, spiOut)], response: {} }),
          request: async () => ({ ikesas: { "half-open": "0" }, plugins: ["kernel-netlink", "vici"] }),
          close: () => undefined,
        }) as unknown as ViciClient,
      readFile: async (p) => files.get(p),
      writeFile: async (p, c) => void files.set(p, c),
      // One exec: `ip xfrm state`, `ip xfrm policy` and xfrm_stat, between separator lines.
      exec: async (cmd) => {
        const sep = /echo (\S+);/.exec(cmd)![1]!;
        return [kernel, name === "k1" ? policy("10.0.0.1", "10.0.0.2") : policy("10.0.0.2", "10.0.0.1"), xfrmStat].join(`${sep}\n`);
      },
    });
    const hosts = [
      fake(
        "k1",
        "k2",
        "aaaa0001",
        "bbbb0001",
        "src a dst b\n\tproto esp spi 0xaaaa0001 reqid 1 mode transport\n\tproto esp spi 0xbbbb0001 reqid 1 mode transport\n",
        "XfrmInNoStates 12\nXfrmInError 0\n",
      ),
      // k2's kernel lost its inbound SA bbbb0001 while charon still lists it
      fake("k2", "k1", "bbbb0001", "aaaa0001", "src b dst a\n\tproto esp spi 0xaaaa0001 reqid 1 mode transport\n", "XfrmInNoStates 0\n"),
    ];
    const r = await verifyMesh(mesh, hosts);
    // k2 lost its inbound SA: a half pair, the real way (k1 keeps sending into it).
    expect(r.findings.map((f) => [f.a, f.b, f.status])).toEqual([["k1", "k2", "half"]]);
    expect(r.findings[0]!.detail).toMatch(/k2's kernel has no inbound SA bbbb0001/);
    expect(r.kernel).toEqual([
      {
        host: "k1",
        comparedSpis: true,
        protection: { k2: "esp" },
        xfrmStat: { XfrmInNoStates: 12, XfrmInError: 0 },
        xfrmDeltas: [{ counter: "XfrmInNoStates", delta: 7, cause: expect.stringMatching(/peer is sending on an SA we don't have/) }],
      },
      { host: "k2", comparedSpis: true, protection: { k1: "esp" }, xfrmStat: { XfrmInNoStates: 0 }, xfrmDeltas: [] },
    ]);
    expect(JSON.parse(files.get("/k2/linkcrypt-xfrm-stat.json")!)).toEqual({ XfrmInNoStates: 0 }); // stored for the next verify
  });
});

describe("mesh: fail-closed policy check", () => {
  const pairs: [string, string][] = [["a", "b"]];
  const table = (host: string, children: { conn: string; spiIn: string; spiOut: string }[]) => ({
    host,
    halfOpen: 0,
    plugins: ["kernel-netlink"],
    ike: children.map((c) => ({ conn: c.conn, state: "ESTABLISHED", children: 1 })),
    children: children.map((c) => ({
      ...c,
      ikeState: "ESTABLISHED",
      child: c.conn,
      state: "INSTALLED",
      bytesIn: 0,
      bytesOut: 0,
      packetsIn: 0,
      packetsOut: 0,
      useIn: 1,
      useOut: 1,
      installTime: 5,
    })),
  });
  const prot = (a: "esp" | "block" | "none", b: "esp" | "block" | "none") =>
    new Map([
      ["a", new Map([["b", a]])],
      ["b", new Map([["a", b]])],
    ]);

  it("no SA but a trap or drop policy on both sides: down (fail-closed)", async () => {
    const { checkPairs } = await import("../../src/mesh/check-pairs.js");
    const f = checkPairs(pairs, [table("a", []), table("b", [])], { idleAfterS: 60, protection: prot("esp", "block") });
    expect(f[0]!.status).toBe("down");
    expect(f[0]!.detail).toMatch(/^down \(fail-closed\)/);
  });

  it("no protecting policy on one side: critical, cleartext possible, even with SAs up", async () => {
    const { checkPairs } = await import("../../src/mesh/check-pairs.js");
    const up = [table("a", [{ conn: "mesh-b", spiIn: "01", spiOut: "02" }]), table("b", [{ conn: "mesh-a", spiIn: "02", spiOut: "01" }])];
    const f = checkPairs(pairs, up, { idleAfterS: 60, protection: prot("esp", "none") });
    expect([f[0]!.status, f[0]!.severity]).toEqual(["cleartext-possible", "critical"]);
    expect(f[0]!.detail).toMatch(/b has no ESP or drop policy toward a/);
    // The same pair under a recorded `mesh down --clear` exception is shown with it, as a warning.
    const g = checkPairs(pairs, up, {
      idleAfterS: 60,
      protection: prot("none", "none"),
      exceptionFor: () => "maintenance (by ops, 2026-11-28T05:00:00Z)",
    });
    expect([g[0]!.status, g[0]!.severity]).toEqual(["cleartext-possible", "warning"]);
    expect(g[0]!.detail).toMatch(/by exception: maintenance/);
  });
});
