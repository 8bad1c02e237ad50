import { describe, expect, it } from "vitest";
import { cli } from "../cli-run.js";
import { host, messages, plan, twoSite } from "../helpers.js";
import { profiles } from "../helpers.js";
import { decidePair, hostTraits } from "../../src/planner/decide-pair.js";
import { load } from "../helpers.js";
import { meshConnSpecs } from "../../src/planner/conn-spec.js";
import { connToVici, renderSwanctlConf } from "../../src/render/swanctl.js";
import { readFileSync } from "node:fs";

/**
 * Planner decisions a reviewer checks against the standards (issue 14). Every expected number is worked out here from
 * the RFC arithmetic or the documented rule, not read back from the planner.
 */
const P = profiles();
type Obj = Record<string, unknown>;

/** Two sites, one link between them, and a mesh over hosts at both ends; `hosts` and `link` override. */
function meshFleet(o: { link?: Obj; hosts?: Obj[]; portMtu?: number; mode?: "transport" | "tunnel"; top?: Obj; ports?: Obj[] } = {}): Obj {
  const base = twoSite({ medium: "internet", pathMtu: 1500, ...o.link });
  const devices = (base.devices as Obj[]).map((d) => ({ ...d, ports: (d.ports as Obj[]).map((p) => ({ ...p, mtu: o.portMtu ?? 1500 })) }));
  return {
    ...base,
    devices: [...devices, ...(o.hosts ?? [host("a-h1", "a", "virtio-net"), host("b-h1", "b", "virtio-net")])],
    meshes: [{ name: "m", members: { roles: ["app"] }, mode: o.mode ?? "transport" }],
    ...o.top,
  };
}

/** ESP overhead in transport mode (RFC 4303 §2): SPI 4 + seq 4 + IV + pad to `align` over (payload + 2) + ICV. */
function maxInnerTransport(mtu: number, iv: number, icv: number, align: number, natT = false): number {
  const room = mtu - 20 - (natT ? 8 : 0) - 8 - iv - icv; // outer IPv4 header stays in front in transport mode
  return Math.floor(room / align) * align - 2 + 20;
}

describe("planner: decisions (issue 14)", () => {
  it("defect 1: two hosts without AES-NI get ChaCha20-Poly1305, about 3x AES-GCM in software (RFC 8439 §1)", () => {
    const gen = (name: string, site: string) =>
      host(name, site, "virtio-net", {
        profile: "vm-generic-no-aesni",
        nics: [{ name: "eth0", profile: "virtio-net", speed: "10G", mtu: 9000 }],
      });
    const p = plan(meshFleet({ hosts: [gen("a-h1", "a"), gen("b-h1", "b")], link: { pathMtu: 9000 }, portMtu: 9000 }));
    const pc = p.meshes[0]!.pairClasses[0]!;
    expect(pc.cipher).toBe("chacha20-poly1305");
    // RFC 8439 §1: ChaCha20 is "around three times as fast" as AES where there is no AES hardware.
    const t = P.xfrmPerf.families;
    expect(t["chacha20-poly1305"].generic / t["aes-gcm"].generic).toBeCloseTo(3, 0);
    // With AES-NI (0.64 cycles/byte for GCM) AES-GCM is the faster one, so the policy's first choice stands.
    expect(t["aes-gcm"].aesni).toBeGreaterThan(t["chacha20-poly1305"].aesni);
    const withAesni = plan(meshFleet({ link: { pathMtu: 9000 }, portMtu: 9000 }));
    expect(withAesni.meshes[0]!.pairClasses[0]!.cipher).toBe("aes-gcm-256");
    expect(pc.reasons.join(" ")).toMatch(/without AES-NI.*RFC 8439/);
    expect(pc.sides!.map((s) => s.reason).join(" ")).toMatch(/no AES-NI/);
  });

  it("defect 2: a host-mesh link is budgeted for the cipher its pairs use, not the policy's worst", () => {
    const p = plan(meshFleet({ link: { nat: true } }));
    const l = p.links[0]!;
    expect(l.method).toBe("host-mesh");
    const pc = p.meshes[0]!.pairClasses.find((c) => c.pathClass !== undefined && c.natT)!;
    expect(pc.cipher).toBe("aes-gcm-256");
    expect(l.cipher).toBe("aes-gcm-256");
    // AES-GCM-16: IV 8, ICV 16, 4-byte padding; NAT-T adds 8 bytes of UDP: 1500 -> 1458 (CBC-SHA256 would give 1442)
    expect(maxInnerTransport(1500, 8, 16, 4, true)).toBe(1458);
    expect(maxInnerTransport(1500, 16, 16, 16, true)).toBe(1442);
    expect(l.mtu.maxInnerMtu).toBe(maxInnerTransport(1500, 8, 16, 4, true));
    expect(pc.mtu!.maxInnerMtu).toBe(l.mtu.maxInnerMtu);
  });

  it("defect 3: a host-mesh link's budget is limited by its end ports' MTU", () => {
    const p = plan(meshFleet({ link: { pathMtu: 9000 }, portMtu: 1500 }));
    const l = p.links[0]!;
    expect(l.method).toBe("host-mesh");
    const expected = maxInnerTransport(1500, 8, 16, 4); // 1466, not 8966
    expect(expected).toBe(1466);
    expect(l.mtu.maxInnerMtu).toBe(expected);
    expect(l.mtu.mssClamp).toBe(expected - 20 - 20);
    expect(p.meshes[0]!.pairClasses[0]!.mtu!.maxInnerMtu).toBe(expected);
  });

  it("defect 4: pair-class messages name a real pair, never a host with itself", () => {
    const gen = (name: string) => host(name, "a", "virtio-net", { profile: "vm-generic-no-aesni" });
    const inv = { ...meshFleet({ hosts: [gen("h1"), gen("h2")] }), policy: "cnsa-1" };
    const p = plan(inv);
    const pcMessages = messages(p.diagnostics).filter((m) => m.includes("pairClasses"));
    expect(pcMessages.length).toBeGreaterThan(0);
    for (const m of pcMessages) expect(m).toMatch(/like h1 ~ h2/);
  });

  it("defect 4: explain refuses a host paired with itself and says why", async () => {
    const r = await cli("explain", "examples/two-site-dwdm.yaml", "fra1-db1", "fra1-db1");
    expect(r.code).not.toBe(0);
    expect(r.err + r.out).toMatch(/fra1-db1.*itself/);
  });

  it("defect 5: a pinned non-XPN suite that can't be used at 100G says so when the link falls back to the mesh", () => {
    const inv = meshFleet({ link: { medium: "dwdm", speed: "100G", pathMtu: 9216, macsecSuite: "GCM-AES-256" }, portMtu: 9000 });
    const p = plan(inv);
    expect(p.links[0]!.method).toBe("host-mesh");
    const w = p.diagnostics.filter((d) => d.severity === "warning" && d.path === p.links[0]!.path);
    expect(w.map((d) => d.message).join(" ")).toMatch(/GCM-AES-256.*not XPN.*only traffic between members of mesh m/);
  });

  describe("defect 6: the 32-bit ESP sequence number against the CHILD_SA lifetime (RFC 4303 §2.2, §3.3.3)", () => {
    // A 1500-byte IP packet is a 1518-byte frame (14 header + 4 FCS) plus 8 preamble/SFD and 12 gap: 1538 bytes on the wire.
    const wireBits = (1500 + 14 + 4 + 8 + 12) * 8;
    const secondsToWrap = (bps: number) => 2 ** 32 / (bps / wireBits);
    const nic = (model: string, speed: string) => [{ name: "eth0", profile: model, speed, mtu: 9000 }];
    const pairOf = (nicModel: string, speed: string, extra: Obj = {}) => {
      const inv = meshFleet({
        hosts: [
          host("a-h1", "a", nicModel, { nics: nic(nicModel, speed), ...extra }),
          host("a-h2", "a", nicModel, { nics: nic(nicModel, speed), ...extra }),
        ],
      });
      const r = load(inv);
      const m = r.model!;
      const [x, y] = m.meshes[0]!.hosts as [(typeof m.meshes)[0]["hosts"][0], (typeof m.meshes)[0]["hosts"][0]];
      const lan = { linksMtu: null, natT: false, hardwareEncrypted: false, speedBps: null };
      return { d: decidePair(hostTraits(x), hostTraits(y), lan, m.meshes[0]!, m.policy, m.profiles.xfrmPerf), p: plan(inv) };
    };

    it("100G with 1500-byte packets wraps in ~528 s, inside the 3600 s lifetime: ESN where both ends and the NIC support it", () => {
      expect(secondsToWrap(100e9)).toBeCloseTo(528.5, 0);
      const { d, p } = pairOf("mlx5-connectx-7", "100G");
      expect(P.policies.get("default")!.lifetimes.childSeconds).toBe(3600);
      expect(d.sides!.map((s) => s.decision)).toEqual(["nic-packet-offload", "nic-packet-offload"]);
      expect(d.sequence!.secondsToWrap).toBeCloseTo(secondsToWrap(100e9), 6);
      expect(d.sequence!.exhausts).toBe(true);
      expect(d.sequence!.esn).toBe(true);
      expect(d.sequence!.rekeyPackets).toBeNull();
      expect(d.sequence!.detail).toMatch(/runs out in 528 s, before the 3600 s CHILD_SA rekey: ESN/);
      const pc = p.meshes[0]!.pairClasses[0]!;
      expect([pc.esn, pc.rekeyPackets]).toEqual([true, null]);
    });

    it("10G wraps after ~5285 s, past the 3600 s rekey: no ESN needed", () => {
      expect(secondsToWrap(10e9)).toBeCloseTo(5285, 0);
      const { d, p } = pairOf("ixgbe-82599", "10G");
      expect(d.capacity!.estimateBps).toBe(10e9);
      expect(d.sequence!.exhausts).toBe(false);
      expect(p.meshes[0]!.pairClasses[0]!.esn).toBe(false);
      expect(p.meshes[0]!.pairClasses[0]!.rekeyPackets).toBeNull();
    });

    it("an offloading NIC without ESN gets a packet-count rekey whose hard limit (+10%) stays under 2^32", () => {
      const { d } = pairOf("netronome-nfp4000", "40G");
      expect(secondsToWrap(40e9)).toBeLessThan(3600);
      expect(d.sequence!.esn).toBe(false);
      const rekey = d.sequence!.rekeyPackets!;
      // strongSwan: life_packets defaults to rekey_packets + 10%, and must not pass 2^32 - 1.
      expect(rekey + Math.floor(rekey / 10)).toBeLessThanOrEqual(2 ** 32 - 1);
      expect(rekey + Math.floor(rekey / 10) + 11).toBeGreaterThan(2 ** 32 - 1);
      expect(d.sequence!.detail).toMatch(/offloads the SA but not with ESN/);
    });

    it("swanctl.conf carries the decision: -esn in esp_proposals, or rekey_packets", () => {
      const lab = plan(readFileSync("examples/mesh-lab.yaml", "utf8")).meshes[0]!;
      const specs = meshConnSpecs(lab, "app1");
      const conf = renderSwanctlConf("app1", specs);
      // app1 ~ app2: 25G offloaded on both ConnectX-6 Dx (ESN-capable): 2114 s < 3600 s, so ESN
      expect(specs.find((c) => c.peer === "app2")!.children[0]!.espProposal).toBe("aes256gcm16-ecp384-esn");
      // app1 ~ db1: 10G: 5285 s > 3600 s, no ESN
      expect(specs.find((c) => c.peer === "db1")!.children[0]!.espProposal).not.toMatch(/esn/);
      expect(conf).toMatch(/esp_proposals = aes256gcm16-ecp384-esn\n/);
      const { p } = pairOf("netronome-nfp4000", "40G");
      const nfp = meshConnSpecs(p.meshes[0]!, "a-h1");
      const child = nfp[0]!.children[0]!;
      expect(child.espProposal).not.toMatch(/esn/);
      expect(child.rekeyPackets).toBe(Math.floor((2 ** 32 - 1) / 1.1));
      expect(renderSwanctlConf("a-h1", nfp)).toMatch(/rekey_packets = 3904515722\n/);
      expect(JSON.stringify(connToVici(nfp[0]!))).toMatch(/"rekey_packets":"3904515722"/);
    });

    it("explain shows the arithmetic for a 25G offloaded pair (~2114 s against 3600 s)", async () => {
      expect(secondsToWrap(25e9)).toBeCloseTo(2114, 0);
      const r = await cli("explain", "examples/mesh-lab.yaml", "app1", "app2");
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/sequence numbers: .*2\.03 Mpackets\/s.*runs out in 2114 s, before the 3600 s CHILD_SA rekey/);
      expect(r.out).toMatch(/plan: ESN \(-esn in esp_proposals\)/);
    });
  });
});
