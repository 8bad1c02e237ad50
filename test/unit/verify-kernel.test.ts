import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { HostAccess } from "../../src/mesh/host-access.js";
import { verifyMesh } from "../../src/mesh/operations.js";
import { parseXfrmStateSpis } from "../../src/mesh/xfrm-state.js";
import type { ViciClient, ViciMessage } from "../../src/transport/vici.js";
import { plan } from "../helpers.js";

describe("mesh: verify against the kernel", () => {
  it("parses SPIs from `ip xfrm state` (both directions, offloaded)", () => {
    expect([...parseXfrmStateSpis(readFileSync("test/fixtures/hosts/ip-xfrm-state.txt", "utf8"))]).toEqual(["c1a2b3c4", "0d0e0f10"]);
  });

  it("compares daemon SPIs with the kernel's and reports xfrm_stat growth since the last verify (in-process fake hosts)", async () => {
    const inv = {
      version: 1, policy: "default", sites: [{ name: "s" }],
      devices: ["k1", "k2"].map((n, i) => ({ name: n, kind: "host", site: "s", profile: "lab-netns-host", role: "r", addresses: { ipv4: `10.0.0.${i + 1}` }, nics: [{ name: "eth0", profile: "virtio-net", speed: "10G", mtu: 1500 }] })),
      meshes: [{ name: "m", members: { roles: ["r"] }, mode: "transport" }],
    };
    const mesh = plan(inv).meshes[0]!;
    const sa = (peer: string, spiIn: string, spiOut: string): ViciMessage => ({
      [`mesh-${peer}`]: { state: "ESTABLISHED", "child-sas": { c: { name: `mesh-${peer}`, state: "INSTALLED", "spi-in": spiIn, "spi-out": spiOut, "use-in": "1", "use-out": "1" } } },
    });
    const files = new Map<string, string>([["/k1/linkcrypt-xfrm-stat.json", JSON.stringify({ XfrmInNoStates: 5 })]]);
    const fake = (name: string, peer: string, spiIn: string, spiOut: string, kernel: string, xfrmStat: string): HostAccess => ({
      name,
      confDir: `/${name}`,
      vici: async () => ({
        stream: async () => ({ events: [sa(peer, spiIn, spiOut)], response: {} }),
        request: async () => ({ ikesas: { "half-open": "0" }, plugins: ["kernel-netlink", "vici"] }),
        close: () => undefined,
      }) as unknown as ViciClient,
      readFile: async (p) => files.get(p),
      writeFile: async (p, c) => void files.set(p, c),
      exec: async (cmd) => (cmd.startsWith("ip xfrm") ? kernel : xfrmStat),
    });
    const hosts = [
      fake("k1", "k2", "aaaa0001", "bbbb0001", "src a dst b\n\tproto esp spi 0xaaaa0001 reqid 1 mode transport\n\tproto esp spi 0xbbbb0001 reqid 1 mode transport\n", "XfrmInNoStates 12\nXfrmInError 0\n"),
      // k2's kernel lost its inbound SA bbbb0001 while charon still lists it
      fake("k2", "k1", "bbbb0001", "aaaa0001", "src b dst a\n\tproto esp spi 0xaaaa0001 reqid 1 mode transport\n", "XfrmInNoStates 0\n"),
    ];
    const r = await verifyMesh(mesh, hosts);
    expect(r.findings.map((f) => [f.a, f.b, f.status])).toEqual([["k1", "k2", "no-kernel-sa"]]);
    expect(r.findings[0]!.detail).toMatch(/bbbb0001 on k2/);
    expect(r.kernel).toEqual([
      { host: "k1", comparedSpis: true, xfrmDeltas: [{ counter: "XfrmInNoStates", delta: 7, cause: expect.stringMatching(/peer is sending on an SA we don't have/) }] },
      { host: "k2", comparedSpis: true, xfrmDeltas: [] },
    ]);
    expect(JSON.parse(files.get("/k2/linkcrypt-xfrm-stat.json")!)).toEqual({ XfrmInNoStates: 0 }); // stored for the next verify
  });
});
