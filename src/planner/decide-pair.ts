import { espCipher, type EspCipher, type EspCipherId } from "../crypto/esp-ciphers.js";
import type { ModelHost, ModelMesh } from "../model/model.js";
import type { PolicyProfile, XfrmPerfProfile } from "../model/profile-schema.js";
import { formatSpeed } from "../model/speed.js";
import { HW_OFFLOAD_MODES_SINCE, versionAtLeast } from "../mesh/conn-spec.js";
import { budget, type Family, type Layer } from "./mtu-budget.js";
import type { MtuPlan, SideDecision } from "./plan-types.js";

/** What a side of a pair is, for deciding: everything but its name and site. Hosts with equal keys decide alike. */
export interface HostTraits {
  nicProfile: ModelHost["nic"]["profile"];
  nicSpeedBps: number;
  nicMtu: number;
  cpuModel: string;
  cpuFlags: readonly string[];
  families: Family[];
  kernelAlgorithms: readonly string[] | undefined;
  strongswanVersion: string | undefined;
}

/** The stretch between two hosts: what the links on it carry and whether it needs NAT-T. */
export interface PathTraits {
  /** Largest packet every link on the path carries after its own encryption; null for a same-site LAN path. */
  linksMtu: number | null;
  natT: boolean;
  /** Every link on the path is encrypted in hardware (L1 or MACsec). False for a LAN-only path. */
  hardwareEncrypted: boolean;
  /** Slowest link on the path, bit/s; null for a same-site LAN path. */
  speedBps: number | null;
}

export function hostTraits(h: ModelHost): HostTraits {
  return {
    nicProfile: h.nic.profile,
    nicSpeedBps: h.nic.speedBps,
    nicMtu: h.nic.mtu,
    cpuModel: h.profile.cpu.model,
    cpuFlags: h.cpuFlags,
    families: [...(h.ipv4 ? [4 as const] : []), ...(h.ipv6 ? [6 as const] : [])],
    kernelAlgorithms: h.kernelAlgorithms,
    strongswanVersion: h.strongswanVersion,
  };
}

export type CpuTier = "vaes" | "aesni" | "generic";

export function cpuTier(flags: readonly string[]): CpuTier {
  const has = (f: string) => flags.includes(f);
  if (has("aes") && has("pclmulqdq") && has("vaes") && has("vpclmulqdq")) return "vaes";
  if (has("aes") && has("pclmulqdq")) return "aesni";
  return "generic";
}

const TIER_LABEL: Record<CpuTier, string> = { vaes: "AES-NI+VAES", aesni: "AES-NI", generic: "no AES-NI" };

export interface SideEvaluation {
  decision: SideDecision | "unavailable";
  reason: string;
  /** Estimated encrypt rate of this side for one SA, bit/s. */
  throughputBps: number;
}

const SCORE: Record<SideDecision, number> = { "nic-packet-offload": 2, "nic-crypto-offload": 1, "host-xfrm": 0 };

/** How one host would run `cipher`: packet offload, crypto offload or software xfrm, and why. */
export function evaluateSide(
  t: HostTraits,
  cipher: EspCipher,
  mesh: Pick<ModelMesh, "mode" | "offload">,
  natT: boolean,
  families: readonly Family[],
  perf: XfrmPerfProfile,
): SideEvaluation {
  const missing = t.kernelAlgorithms === undefined ? [] : cipher.kernelAlgorithms.filter((a) => !t.kernelAlgorithms!.includes(a));
  if (missing.length > 0)
    return { decision: "unavailable", reason: `the kernel has no ${missing.join(" / ")} (per /proc/crypto), so it cannot run ${cipher.id} at all`, throughputBps: 0 };
  const tier = cpuTier(t.cpuFlags);
  const xfrmBps = perf.families[cipher.family][tier] * 1e9;
  const xfrm = (why: string): SideEvaluation => ({
    decision: "host-xfrm",
    reason: `${why}; host xfrm on ${t.cpuModel} (${TIER_LABEL[tier]}) ~${formatSpeed(xfrmBps)} per SA`,
    throughputBps: xfrmBps,
  });
  const nic = t.nicProfile;
  const eo = nic.espOffload;
  const name = `${nic.model} (${nic.kernelDriver})`;
  if (mesh.offload === "off") return xfrm("NIC offload is off for this mesh");
  if (eo.modes.length === 0) return xfrm(`${name} has no ESP offload`);
  if (!eo.ciphers.includes(cipher.id)) return xfrm(`${name} offloads only ${eo.ciphers.join(", ")}, not ${cipher.id}`);
  if (!eo.ipsecModes.includes(mesh.mode)) return xfrm(`${name} offloads ${eo.ipsecModes.join("/")} mode only, not ${mesh.mode}`);
  if (natT && !eo.natT) return xfrm(`${name} cannot offload UDP-encapsulated (NAT-T) ESP`);
  if (families.includes(6) && !eo.ipv6) return xfrm(`${name} cannot offload IPv6 ESP`);
  if (!(eo.directions.includes("in") && eo.directions.includes("out")))
    return xfrm(`${name} offloads ${eo.directions.join("/")}bound only, and strongSwan's hw_offload covers both SAs of a CHILD_SA, so an explicit request would fail the other direction`);
  const line = t.nicSpeedBps;
  const swanPacket = t.strongswanVersion === undefined || versionAtLeast(t.strongswanVersion, HW_OFFLOAD_MODES_SINCE);
  if (eo.modes.includes("packet") && (mesh.mode !== "tunnel" || eo.packetTunnel) && swanPacket)
    return { decision: "nic-packet-offload", reason: `${name} does ${cipher.id} in packet mode (ESP encapsulation, replay and lifetimes in the NIC), at line rate ${formatSpeed(line)}${eo.packetMinKernel ? `; needs Linux ${eo.packetMinKernel}+` : ""}`, throughputBps: line };
  const why = !eo.modes.includes("packet") ? ""
    : !swanPacket ? ` (strongSwan ${t.strongswanVersion} predates hw_offload = packet, ${HW_OFFLOAD_MODES_SINCE})`
    : ` (packet mode not in ${mesh.mode} mode on this NIC)`;
  return { decision: "nic-crypto-offload", reason: `${name} does ${cipher.id} in crypto mode${why}, at line rate ${formatSpeed(line)}`, throughputBps: line };
}

export interface PairDecision {
  method: "esp" | "exempt" | "refused";
  cipher: EspCipherId | null;
  families: Family[];
  natT: boolean;
  sides: [SideEvaluation, SideEvaluation] | null;
  mtu: MtuPlan | null;
  capacity: { nicSpeedBps: number; estimateBps: number; ok: boolean } | null;
  reasons: string[];
  /** Every cipher looked at, for `explain`. */
  considered: { cipher: EspCipherId; sides: [SideEvaluation, SideEvaluation]; score: number | null }[];
  problems: { severity: "error" | "warning"; code: string; message: string }[];
}

/**
 * Decides one host pair (or a whole class of alike pairs): whether it needs ESP, with which cipher, and how each side
 * runs it. The cipher that offloads more wins; ties go to the policy's order.
 */
export function decidePair(
  a: HostTraits,
  b: HostTraits,
  path: PathTraits,
  mesh: Pick<ModelMesh, "mode" | "offload" | "ciphers" | "natT" | "overlay" | "name">,
  policy: PolicyProfile,
  perf: XfrmPerfProfile,
): PairDecision {
  const problems: PairDecision["problems"] = [];
  const families = a.families.filter((f) => b.families.includes(f));
  const natT = mesh.natT || path.natT;
  const base = { families, natT, considered: [] as PairDecision["considered"] };
  if (families.length === 0) {
    const msg = `the hosts share no address family (${fam(a.families)} vs ${fam(b.families)})`;
    problems.push({ severity: "error", code: "pair.no-family", message: msg });
    return { ...base, method: "refused", cipher: null, sides: null, mtu: null, capacity: null, reasons: [msg], problems };
  }
  if (path.hardwareEncrypted && policy.meshOverEncryptedLinks === "optional") {
    return {
      ...base, method: "exempt", cipher: null, sides: null, mtu: null, capacity: null, problems,
      reasons: [`every link between the two sites is hardware-encrypted and policy ${policy.name} does not require host ESP on top (meshOverEncryptedLinks: optional); this pair's traffic is in clear on the site LANs at either end`],
    };
  }
  const reasons: string[] = [];
  if (path.hardwareEncrypted) reasons.push(`defence in depth: policy ${policy.name} requires host ESP even where the links are hardware-encrypted`);

  let best: { cipher: EspCipher; sides: [SideEvaluation, SideEvaluation]; score: number } | undefined;
  for (const id of mesh.ciphers) {
    const cipher = espCipher(id);
    const sides: [SideEvaluation, SideEvaluation] = [
      evaluateSide(a, cipher, mesh, natT, families, perf),
      evaluateSide(b, cipher, mesh, natT, families, perf),
    ];
    const usable = sides.every((s) => s.decision !== "unavailable");
    const score = usable ? SCORE[sides[0].decision as SideDecision] + SCORE[sides[1].decision as SideDecision] : null;
    base.considered.push({ cipher: id, sides, score });
    if (score !== null && (!best || score > best.score)) best = { cipher, sides, score };
  }
  if (!best) {
    const msg = `no cipher both hosts can run under policy ${policy.name}: ${base.considered.map((c) => `${c.cipher}: ${c.sides.filter((s) => s.decision === "unavailable").map((s) => s.reason).join("; ")}`).join(" | ")}`;
    problems.push({ severity: "error", code: "pair.no-cipher", message: msg });
    return { ...base, method: "refused", cipher: null, sides: null, mtu: null, capacity: null, reasons: [msg], problems };
  }
  const first = base.considered[0]!;
  reasons.push(
    best.cipher.id === first.cipher
      ? `${best.cipher.id}: the policy's first choice${best.score > 0 ? " and the one that offloads most" : ""}`
      : `${best.cipher.id} rather than ${first.cipher}: it offloads more (${describeScore(best.sides)} vs ${first.score === null ? "not runnable" : describeScore(first.sides)})`,
  );
  if (mesh.offload === "require") {
    for (const [i, s] of best.sides.entries())
      if (s.decision === "host-xfrm")
        problems.push({ severity: "error", code: "pair.offload-required", message: `mesh ${mesh.name} requires NIC offload, but side ${i === 0 ? "A" : "B"} cannot: ${s.reason}` });
  }

  // MTU: the smaller NIC, then whatever the links carry after their own encryption.
  const pathMtu = Math.min(a.nicMtu, b.nicMtu, path.linksMtu ?? Infinity);
  let mtu: MtuPlan | null = null;
  for (const f of families) {
    const stack: Layer[] = [
      ...(mesh.overlay === "vxlan" ? [{ kind: "vxlan", family: f } as const] : []),
      { kind: "esp", cipher: best.cipher, mode: mesh.mode, family: f, natT },
    ];
    const bud = budget(stack, pathMtu, f);
    if (!mtu || bud.maxInnerMtu < mtu.maxInnerMtu)
      mtu = { pathMtu, overheadBytes: bud.overheadBytes, maxInnerMtu: bud.maxInnerMtu, recommendedMtu: bud.maxInnerMtu, mssClamp: bud.mssClamp, layers: bud.layers };
  }
  if (families.includes(6) && mtu!.maxInnerMtu < 1280)
    problems.push({ severity: "error", code: "mtu.ipv6-minimum", message: `only ${mtu!.maxInnerMtu} bytes fit inside ESP, below the IPv6 minimum MTU of 1280` });

  // What the pair could otherwise push: the slower NIC, or the slowest link between the sites.
  const nicSpeedBps = Math.min(a.nicSpeedBps, b.nicSpeedBps, path.speedBps ?? Infinity);
  const estimateBps = Math.min(best.sides[0].throughputBps, best.sides[1].throughputBps, nicSpeedBps);
  const ok = estimateBps >= nicSpeedBps;
  if (!ok)
    problems.push({
      severity: "warning", code: "capacity.xfrm-slow",
      message: `host xfrm is estimated at ${formatSpeed(estimateBps)} per SA, below the ${formatSpeed(nicSpeedBps)} ${path.speedBps !== null && path.speedBps <= Math.min(a.nicSpeedBps, b.nicSpeedBps) ? "the path carries" : "the NICs carry"}: one pair's traffic tops out near ${formatSpeed(estimateBps)}`,
    });
  return {
    ...base, method: "esp", cipher: best.cipher.id, sides: best.sides, mtu, reasons, problems,
    capacity: { nicSpeedBps, estimateBps, ok },
  };
}

function describeScore(sides: readonly SideEvaluation[]): string {
  return sides.map((s) => s.decision).join(" + ");
}

function fam(f: readonly Family[]): string {
  return f.map((x) => `IPv${x}`).join("+") || "none";
}
