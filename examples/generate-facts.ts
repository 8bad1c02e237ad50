/**
 * Generates a facts file for a generated fleet, as `discover` would write it, with the per-host variation real
 * fleets show: CPU flag lists that differ with microcode, kernel and hypervisor (a few VMs hide AES-NI), a
 * /proc/crypto that lists only what has been used since boot (so ChaCha20-Poly1305 or CBC may be missing), kernel
 * builds and strongSwan releases on both sides of the hw_offload = packet change, and ESP offload switched off on a
 * few NICs; optionally (`aesHidden`) VMs whose hypervisor hides AES-NI. `uniform` gives every host of one kind the
 * same facts, for comparison.
 *
 *   npx tsx examples/generate-facts.ts --hosts 2000 --links 200 [--sites 40] [--uniform] > facts.json
 *
 * Deterministic: the same options give the same bytes (a seeded generator, no clock).
 */
import { generateFleet, type FleetOptions } from "./generate-fleet.js";

export interface FactsOptions {
  /** `distinct`: every host's facts differ; `uniform`: every host of one profile/NIC gets the same facts. */
  variation: "distinct" | "uniform";
  seed?: number;
  /** With `distinct`: the share of hosts (0..1) whose hypervisor hides AES-NI from the guest. Default 0. */
  aesHidden?: number;
}

/** Flags every x86-64 server of the last decade lists (a trimmed but realistic /proc/cpuinfo line). */
const BASE_FLAGS = (
  "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx " +
  "pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid tsc_known_freq pni ssse3 fma cx16 pcid " +
  "sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer xsave avx f16c rdrand lahf_lm abm 3dnowprefetch cpuid_fault " +
  "invpcid_single fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid rdseed adx smap clflushopt clwb sha_ni xsaveopt " +
  "xsavec xgetbv1 xsaves arat umip"
).split(" ");
/** Flags that come and go with microcode, kernel release and hypervisor. */
const VARYING_FLAGS = (
  "md_clear flush_l1d arch_capabilities ibrs ibpb stibp ssbd ibrs_enhanced tsx_ctrl rtm hle pku ospke waitpkg " +
  "split_lock_detect amd_ssbd virt_ssbd amd_stibp rdpid fsrm serialize tsxldtrk movdiri movdir64b gfni avx512vbmi " +
  "avx512_vbmi2 avx512_vnni avx512_bitalg avx512_vpopcntdq la57 hypervisor vmx ept vpid flexpriority tpr_shadow"
).split(" ");
const TIER_FLAGS: Record<string, string[]> = {
  vaes: ["aes", "pclmulqdq", "vaes", "vpclmulqdq", "avx512f", "avx512dq", "avx512bw", "avx512vl"],
  aesni: ["aes", "pclmulqdq"],
};
/** Host profile -> CPU tier flags (what the bundled profiles say). */
const PROFILE_TIER: Record<string, keyof typeof TIER_FLAGS> = {
  "dell-r760-xeon-6430": "vaes",
  "hpe-dl385-epyc-9354": "vaes",
  "dell-r630-xeon-e5-2680v4": "aesni",
  "lab-netns-host": "aesni",
};
/** Kernel crypto algorithms an IPsec host has instantiated, with the drivers /proc/crypto names per tier. */
const ESP_ALGORITHMS: Record<string, (tier: string) => string[]> = {
  "rfc4106(gcm(aes))": (t) =>
    t === "vaes"
      ? ["rfc4106-gcm-vaes-avx10_512"]
      : t === "aesni"
        ? ["rfc4106-gcm-aesni-avx"]
        : ["rfc4106(gcm_base(ctr(aes-generic),ghash-generic))"],
  "gcm(aes)": (t) => (t === "generic" ? ["gcm_base(ctr(aes-generic),ghash-generic)"] : ["generic-gcm-aesni"]),
  "cbc(aes)": (t) => (t === "generic" ? ["cbc(aes-generic)"] : ["cbc-aes-aesni"]),
  "hmac(sha256)": () => ["hmac(sha256-ni)"],
  "hmac(sha1)": () => ["hmac(sha1-ni)"],
  "rfc7539esp(chacha20,poly1305)": () => ["rfc7539esp(chacha20-simd,poly1305-simd)"],
};
/** Everything else /proc/crypto may list, depending on what ran since boot. */
const OTHER_ALGORITHMS = (
  "sha256 sha224 sha1 sha512 sha384 md5 crc32c crc32 crct10dif aes ecb(aes) ctr(aes) xts(aes) cmac(aes) ghash " +
  "chacha20 poly1305 xchacha20 blake2b-256 sha3-256 lzo lzo-rle lz4 zstd deflate jitterentropy_rng stdrng " +
  "drbg_nopr_hmac_sha256 drbg_pr_hmac_sha256 ecdh-nist-p256 ecdh-nist-p384 rsa pkcs1pad(rsa,sha256) dh " +
  "authenc(hmac(sha256),cbc(aes)) authencesn(hmac(sha256),cbc(aes)) seqiv(rfc4106(gcm(aes))) echainiv(authenc(hmac(sha256),cbc(aes)))"
).split(" ");
const KERNELS = ["6.1.0-%-amd64", "6.8.0-%-generic", "6.12.%", "5.15.0-%-generic", "6.6.%"];
const STRONGSWAN = ["5.9.8", "5.9.11", "5.9.13", "5.9.14", "6.0.0", "6.0.1"];
const NIC_DRIVERS: Record<string, { driver: string; offload: boolean }> = {
  "mlx5-connectx-6dx": { driver: "mlx5_core", offload: true },
  "mlx5-connectx-7": { driver: "mlx5_core", offload: true },
  "ixgbe-82599": { driver: "ixgbe", offload: true },
  "intel-e810": { driver: "ice", offload: false },
  "virtio-net": { driver: "virtio_net", offload: false },
};

/** mulberry32: a small seeded generator, so the same options give the same facts. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Obj = Record<string, unknown>;

/** A facts file (`linkcrypt-facts`, version 1) for every host of `fleet` (a generateFleet() inventory). */
export function generateFacts(fleet: Obj, o: FactsOptions): Obj {
  const random = rng(o.seed ?? 14);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const devices: Record<string, Obj> = {};
  const hosts = (fleet.devices as Obj[]).filter((d) => d.kind === "host");
  for (const [i, h] of hosts.entries()) {
    const nic = (h.nics as Obj[])[0]!;
    const nicInfo = NIC_DRIVERS[nic.profile as string] ?? { driver: "unknown", offload: false };
    let tier: string = PROFILE_TIER[h.profile as string] ?? "generic";
    let flags = [...BASE_FLAGS, ...(TIER_FLAGS[tier] ?? [])];
    let algorithms = Object.keys(ESP_ALGORITHMS);
    let others = OTHER_ALGORITHMS.slice(0, 12);
    let kernel = KERNELS[0]!.replace("%", "28");
    let strongswan = "5.9.13";
    let espHwOffload = nicInfo.offload ? "on" : "fixed-off";
    if (o.variation === "distinct") {
      // The AES tier follows the hardware (these are physical servers); the rest of the list differs with microcode,
      // kernel release and mitigations. `aesHidden` hosts are VMs whose hypervisor hides AES-NI.
      if (random() < (o.aesHidden ?? 0)) {
        tier = "generic";
        flags = [...BASE_FLAGS, "hypervisor"];
      }
      flags = [...flags, ...VARYING_FLAGS.filter(() => random() < 0.5)];
      // /proc/crypto lists what was used since boot: rfc4106(gcm(aes)) is there on hosts running ESP; the rest varies.
      algorithms = algorithms.filter((a) => a === "rfc4106(gcm(aes))" || random() < 0.85);
      others = OTHER_ALGORITHMS.filter(() => random() < 0.6);
      // The build number is the host's own, so no two hosts' facts are equal.
      kernel = pick(KERNELS).replace("%", String(10 + i));
      strongswan = pick(STRONGSWAN);
      if (nicInfo.offload && random() < 0.05) espHwOffload = "off";
    }
    const kernelAlgorithms: Record<string, string[]> = {};
    for (const a of algorithms) kernelAlgorithms[a] = ESP_ALGORITHMS[a]!(tier);
    for (const a of others) kernelAlgorithms[a] = [`${a.replace(/[()]/g, "_")}-generic`];
    devices[h.name as string] = {
      device: h.name,
      driver: "linux-host",
      reachable: true,
      observedAt: "2026-01-01T00:00:00.000Z",
      host: {
        kernel,
        cpuFlags: flags,
        kernelAlgorithms,
        nics: [{ name: nic.name, driver: nicInfo.driver, espHwOffload, espTxCsumHwOffload: espHwOffload }],
        strongswanVersion: strongswan,
        xfrmStat: undefined,
      },
    };
  }
  return { format: "linkcrypt-facts", version: 1, inventory: fleet.name, devices };
}

if (process.argv[1] && /generate-facts\.ts$/.test(process.argv[1])) {
  const arg = (name: string, dflt?: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const hosts = Number(arg("hosts", "1000"));
  const links = Number(arg("links", "200"));
  const sites = arg("sites");
  if (!Number.isInteger(hosts) || hosts < 2 || !Number.isInteger(links) || links < 0) {
    process.stderr.write("usage: generate-facts.ts --hosts N (>=2) --links N [--sites N] [--uniform | --aes-hidden SHARE]\n");
    process.exit(64);
  }
  const fleet: FleetOptions = { hosts, links, ...(sites ? { sites: Number(sites) } : {}) };
  const aesHidden = Number(arg("aes-hidden", "0"));
  const facts = generateFacts(generateFleet(fleet), { variation: process.argv.includes("--uniform") ? "uniform" : "distinct", aesHidden });
  process.stdout.write(`${JSON.stringify(facts)}\n`);
}
