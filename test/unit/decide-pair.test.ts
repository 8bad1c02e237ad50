import { describe, expect, it } from "vitest";
import { cpuTier, decidePair, evaluateSide, strongswanLevel, type HostTraits, type PathTraits } from "../../src/planner/decide-pair.js";
import { espCipher } from "../../src/crypto/esp-ciphers.js";
import { profiles } from "../helpers.js";

const P = profiles();
/** Traits from raw facts (CPU flags, strongSwan version), as hostTraits() derives them from a host. */
const traits = (nic: string, extra: Partial<HostTraits> & { cpuFlags?: string[]; strongswanVersion?: string } = {}): HostTraits => {
  const { cpuFlags = ["aes", "pclmulqdq"], strongswanVersion, ...rest } = extra;
  return {
    nicProfile: P.nics.get(nic)!,
    nicSpeedBps: 25e9,
    nicMtu: 9000,
    cpuModel: "cpu",
    cpuTier: cpuTier(cpuFlags),
    families: [4],
    kernelAlgorithms: undefined,
    strongswan: strongswanLevel(strongswanVersion),
    ...rest,
  };
};
const lan: PathTraits = { linksMtu: null, natT: false, hardwareEncrypted: false, speedBps: null };
const mesh = (o: Partial<{ mode: "transport" | "tunnel"; offload: "prefer" | "require" | "off"; ciphers: string[]; natT: boolean }> = {}) =>
  ({
    name: "m",
    mode: "transport" as const,
    offload: "prefer" as const,
    natT: false,
    overlay: "none" as const,
    ciphers: P.policies.get("default")!.esp.ciphers,
    ...o,
  }) as Parameters<typeof decidePair>[3];
const decide = (a: HostTraits, b: HostTraits, o = {}, policy = "default", path = lan) =>
  decidePair(a, b, path, mesh(o), P.policies.get(policy)!, P.xfrmPerf);

describe("planner: decide-pair", () => {
  it("offloads in packet mode on mlx5 at both ends", () => {
    const d = decide(traits("mlx5-connectx-7"), traits("mlx5-connectx-7"));
    expect(d.cipher).toBe("aes-gcm-256");
    expect(d.sides!.map((s) => s.decision)).toEqual(["nic-packet-offload", "nic-packet-offload"]);
  });

  it("prefers the cipher that offloads more: AES-GCM-128 lets ixgbe offload", () => {
    const d = decide(traits("mlx5-connectx-7"), traits("ixgbe-82599"));
    expect(d.cipher).toBe("aes-gcm-128");
    expect(d.sides![1].decision).toBe("nic-crypto-offload");
    expect(d.reasons.join()).toMatch(/offloads more/);
  });

  it("never offloads a key size the NIC can't do: ixgbe under CNSA (AES-256) stays in host xfrm", () => {
    const d = decide(traits("mlx5-connectx-7"), traits("ixgbe-82599"), { ciphers: ["aes-gcm-256"] }, "cnsa-1");
    expect(d.cipher).toBe("aes-gcm-256");
    expect(d.sides![1].decision).toBe("host-xfrm");
    expect(d.sides![1].reason).toMatch(/offloads only aes-gcm-128/);
  });

  it("keeps ixgbe in software in tunnel mode (it offloads transport only)", () => {
    const s = evaluateSide(traits("ixgbe-82599"), espCipher("aes-gcm-128"), { mode: "tunnel", offload: "prefer" }, false, [4], P.xfrmPerf);
    expect(s.decision).toBe("host-xfrm");
    expect(s.reason).toMatch(/transport mode only/);
  });

  it("uses crypto rather than packet offload when the host's strongSwan predates hw_offload = packet", () => {
    const s = evaluateSide(
      traits("mlx5-connectx-7", { strongswanVersion: "5.9.8" }),
      espCipher("aes-gcm-128"),
      { mode: "transport", offload: "prefer" },
      false,
      [4],
      P.xfrmPerf,
    );
    expect(s.decision).toBe("nic-crypto-offload");
    expect(s.reason).toMatch(/strongSwan predates hw_offload = packet, 5\.9\.10/);
    expect(
      evaluateSide(
        traits("mlx5-connectx-7", { strongswanVersion: "5.9.13" }),
        espCipher("aes-gcm-128"),
        { mode: "transport", offload: "prefer" },
        false,
        [4],
        P.xfrmPerf,
      ).decision,
    ).toBe("nic-packet-offload");
  });

  it("uses crypto rather than packet offload where tunnel-mode packet offload is not available", () => {
    const s = evaluateSide(
      traits("mlx5-connectx-6dx"),
      espCipher("aes-gcm-128"),
      { mode: "tunnel", offload: "prefer" },
      false,
      [4],
      P.xfrmPerf,
    );
    expect(s.decision).toBe("nic-crypto-offload");
  });

  it("does not offload NAT-T on NICs that can't", () => {
    const d = decide(traits("mlx5-connectx-7"), traits("mlx5-connectx-7"), { natT: true });
    expect(d.sides!.every((s) => s.decision === "host-xfrm")).toBe(true);
    expect(d.sides![0].reason).toMatch(/NAT-T/);
  });

  it("does not ask for offload on an outbound-only NIC", () => {
    const s = evaluateSide(
      traits("marvell-cn10k"),
      espCipher("aes-gcm-128"),
      { mode: "transport", offload: "prefer" },
      false,
      [4],
      P.xfrmPerf,
    );
    expect(s.decision).toBe("host-xfrm");
    expect(s.reason).toMatch(/outbound only/);
  });

  it("refuses an AES-GCM host-xfrm plan when the kernel has no gcm(aes)", () => {
    const noGcm = traits("virtio-net", { kernelAlgorithms: ["cbc(aes)", "hmac(sha256)"] });
    const d = decide(noGcm, traits("virtio-net"), { ciphers: ["aes-gcm-256", "aes-gcm-128"] });
    expect(d.method).toBe("refused");
    expect(d.problems[0]!.message).toMatch(/rfc4106\(gcm\(aes\)\)/);
    // with a CBC cipher allowed, it falls back to that
    const d2 = decide(noGcm, traits("virtio-net"));
    expect(d2.cipher).toBe("aes-cbc-256-sha256");
  });

  it("says whether AES-NI/VAES is present and warns when host xfrm can't keep up", () => {
    const d = decide(
      traits("virtio-net", { cpuFlags: [], cpuModel: "old" }),
      traits("virtio-net", { cpuFlags: ["aes", "pclmulqdq", "vaes", "vpclmulqdq"] }),
    );
    expect(d.sides![0].reason).toMatch(/no AES-NI/);
    expect(d.sides![1].reason).toMatch(/AES-NI\+VAES/);
    expect(d.capacity!.ok).toBe(false);
    expect(d.problems.some((p) => p.code === "capacity.xfrm-slow")).toBe(true);
  });

  it("compares host xfrm with the slowest link on the path, not only the NIC", () => {
    const slow: PathTraits = { linksMtu: 1500, natT: false, hardwareEncrypted: false, speedBps: 1e9 };
    const d = decide(traits("virtio-net"), traits("virtio-net"), {}, "default", slow);
    expect(d.capacity!.ok).toBe(true);
  });

  it("refuses when offload is required but a side can't", () => {
    const d = decide(traits("mlx5-connectx-7"), traits("virtio-net"), { offload: "require" });
    expect(d.problems.some((p) => p.code === "pair.offload-required" && p.severity === "error")).toBe(true);
  });

  it("exempts pairs over hardware-encrypted links only when the policy does not require defence in depth", () => {
    const hw: PathTraits = { linksMtu: 9000, natT: false, hardwareEncrypted: true, speedBps: 100e9 };
    expect(decide(traits("virtio-net"), traits("virtio-net"), {}, "pci-dss-4", hw).method).toBe("exempt");
    const d = decide(traits("virtio-net"), traits("virtio-net"), {}, "cnsa-1", hw);
    expect(d.method).toBe("esp");
    expect(d.reasons[0]).toMatch(/defence in depth/);
  });

  it("refuses a pair with no common address family", () => {
    const d = decide(traits("virtio-net", { families: [4] }), traits("virtio-net", { families: [6] }));
    expect(d.method).toBe("refused");
  });

  it("budgets the smaller of the NIC MTUs and what the links carry", () => {
    const path: PathTraits = { linksMtu: 1500, natT: true, hardwareEncrypted: false, speedBps: 10e9 };
    const d = decide(traits("virtio-net"), traits("virtio-net", { nicMtu: 9000 }), { mode: "tunnel" }, "cnsa-1", path);
    // GCM tunnel IPv4 + NAT-T over 1500: 1438
    expect(d.mtu!.maxInnerMtu).toBe(1438);
    expect(d.natT).toBe(true);
  });
});
