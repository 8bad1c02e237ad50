import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseHostFacts } from "../../drivers/linux-host/index.js";
import { parseEthtoolFeatures } from "../../drivers/linux-host/parsers/ethtool.js";

// Fixtures reproduce the facts script's output on an mlx5 (ConnectX-6 Dx, Sapphire Rapids) and an ixgbe (82599,
// Broadwell) machine, in the exact formats of /proc/cpuinfo, /proc/crypto, ethtool -i/-k and /proc/net/xfrm_stat.
describe("drivers: linux-host parsers", () => {
  it("mlx5 host: VAES, the vaes AEAD driver, packet-capable NIC, and an igb NIC without ESP offload", () => {
    const f = parseHostFacts(readFileSync("test/fixtures/hosts/mlx5-cx6dx.txt", "utf8"));
    expect(f.kernel).toBe("6.8.0-45-generic");
    expect(f.cpuFlags).toEqual(expect.arrayContaining(["aes", "pclmulqdq", "vaes", "vpclmulqdq", "avx512f"]));
    expect(f.kernelAlgorithms["rfc4106(gcm(aes))"]).toEqual(["rfc4106-gcm-vaes-avx10_512", "rfc4106-gcm-aesni-avx"]);
    expect(f.nics).toEqual([
      { name: "ens1f0np0", driver: "mlx5_core", espHwOffload: "on", espTxCsumHwOffload: "on" },
      { name: "eno1", driver: "igb", espHwOffload: "fixed-off", espTxCsumHwOffload: "fixed-off" },
    ]);
    expect(f.strongswanVersion).toBe("5.9.13");
    expect(f.xfrmStat!.XfrmInNoStates).toBe(12);
    expect(Object.keys(f.xfrmStat!)).toHaveLength(30);
  });

  it("ixgbe host: AES-NI without VAES, strongSwan version from `ipsec --version`", () => {
    const f = parseHostFacts(readFileSync("test/fixtures/hosts/ixgbe-82599.txt", "utf8"));
    expect(f.cpuFlags).toContain("aes");
    expect(f.cpuFlags).not.toContain("vaes");
    expect(Object.keys(f.kernelAlgorithms)).toEqual(["rfc4106(gcm(aes))", "__rfc4106(gcm(aes))"]);
    expect(f.nics[0]).toEqual({ name: "enp4s0f0", driver: "ixgbe", espHwOffload: "on", espTxCsumHwOffload: "on" });
    expect(f.strongswanVersion).toBe("5.9.5");
    expect(f.xfrmStat!.XfrmOutPolBlock).toBe(3);
  });

  it("ethtool: 'off [fixed]' means the hardware cannot; plain 'off' means disabled; absent means the kernel lacks the feature", () => {
    expect(parseEthtoolFeatures("esp-hw-offload: off [fixed]\nesp-tx-csum-hw-offload: off\n")).toEqual({
      espHwOffload: "fixed-off",
      espTxCsumHwOffload: "off",
    });
    expect(parseEthtoolFeatures("rx-checksumming: on\n")).toEqual({ espHwOffload: "absent", espTxCsumHwOffload: "absent" });
  });

  it("a host without strongSwan, xfrm_stat or NICs still parses", () => {
    const f = parseHostFacts("### uname\n6.1.0\n### cpuinfo\n### crypto\n### xfrm_stat\n### strongswan\n### ethtool\nmissing\n");
    expect(f).toEqual({ kernel: "6.1.0", cpuFlags: [], kernelAlgorithms: {}, nics: [], strongswanVersion: undefined, xfrmStat: undefined });
  });
});
