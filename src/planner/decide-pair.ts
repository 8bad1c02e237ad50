import { ESP_CIPHER_IDS, espCipher, type EspCipher, type EspCipherId } from "../crypto/esp-ciphers.js";
import type { ModelHost, ModelMesh } from "../model/model.js";
import type { PolicyProfile, XfrmPerfProfile } from "../model/profile-schema.js";
import { formatSpeed } from "../model/speed.js";
import { HW_OFFLOAD_MODES_SINCE, versionAtLeast } from "./conn-spec.js";
import { espSequencePlan, type SequencePlan } from "./esp-sequence.js";
import { budget, type Budget, type Family, type Layer } from "./mtu-budget.js";
import type { MtuPlan, SideDecision } from "./plan-types.js";

/**
 * What a side of a pair is, for deciding: only what the decisions depend on, so hosts whose raw facts differ (CPU flag
 * lists, every algorithm /proc/crypto happens to list, exact versions) but that decide alike share one host class.
 * The raw facts stay on the host (`ModelHost`), for `explain`.
 */
export interface HostTraits {
  /** The NIC profile after discovered facts (offload modes cleared where ethtool says esp-hw-offload is off). */
  nicProfile: ModelHost["nic"]["profile"];
  nicSpeedBps: number;
  nicMtu: number;
  cpuModel: string;
  cpuTier: CpuTier;
  families: Family[];
  /** The kernel algorithms ESP transforms need that /proc/crypto listed, sorted; undefined = not observed. */
  kernelAlgorithms: readonly string[] | undefined;
  strongswan: StrongswanLevel;
}

/** What the host's strongSwan can be asked for; `version` is shown only when it was observed. */
export interface StrongswanLevel {
  observed: boolean;
  /** hw_offload = packet|crypto (else only yes|no). */
  hwOffloadModes: boolean;
  /** `-esn` in esp_proposals. */
  esn: boolean;
}

/**
 * strongSwan has negotiated ESN (the `esn` proposal keyword) with the Linux kernel since the 4.x series [K]; every 5.x
 * release accepts it, and 5.9.8 (the lab's charon) was checked to accept `-esn` in esp_proposals.
 */
export const ESN_SINCE = "5.0.0";

const ASSUMED_CURRENT: StrongswanLevel = Object.freeze({ observed: false, hwOffloadModes: true, esn: true });
const levels = new Map<string, StrongswanLevel>();

/** The feature level of a strongSwan version (one shared, frozen object per version). */
export function strongswanLevel(version: string | undefined): StrongswanLevel {
  if (version === undefined) return ASSUMED_CURRENT;
  let l = levels.get(version);
  if (!l)
    levels.set(
      version,
      (l = Object.freeze({
        observed: true,
        hwOffloadModes: versionAtLeast(version, HW_OFFLOAD_MODES_SINCE),
        esn: versionAtLeast(version, ESN_SINCE),
      })),
    );
  return l;
}

/** The /proc/crypto names any ESP transform needs; everything else /proc/crypto lists does not change a decision. */
const ESP_KERNEL_ALGORITHMS = new Set(ESP_CIPHER_IDS.flatMap((id) => espCipher(id).kernelAlgorithms));

export function espKernelAlgorithms(observed: readonly string[] | undefined): readonly string[] | undefined {
  return observed === undefined ? undefined : observed.filter((a) => ESP_KERNEL_ALGORITHMS.has(a)).sort();
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
    cpuTier: cpuTier(h.cpuFlags),
    families: [...(h.ipv4 ? [4 as const] : []), ...(h.ipv6 ? [6 as const] : [])],
    kernelAlgorithms: espKernelAlgorithms(h.kernelAlgorithms),
    strongswan: strongswanLevel(h.strongswanVersion),
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
    return {
      decision: "unavailable",
      reason: `the kernel has no ${missing.join(" / ")} (per /proc/crypto), so it cannot run ${cipher.id} at all`,
      throughputBps: 0,
    };
  const tier = t.cpuTier;
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
    return xfrm(
      `${name} offloads ${eo.directions.join("/")}bound only, and strongSwan's hw_offload covers both SAs of a CHILD_SA, so an explicit request would fail the other direction`,
    );
  const line = t.nicSpeedBps;
  const swanPacket = t.strongswan.hwOffloadModes;
  if (eo.modes.includes("packet") && (mesh.mode !== "tunnel" || eo.packetTunnel) && swanPacket)
    return {
      decision: "nic-packet-offload",
      reason:
        `${name} does ${cipher.id} in packet mode (ESP encapsulation, replay and lifetimes in the NIC), ` +
        `at line rate ${formatSpeed(line)}${eo.packetMinKernel ? `; needs Linux ${eo.packetMinKernel}+` : ""}`,
      throughputBps: line,
    };
  const why = !eo.modes.includes("packet")
    ? ""
    : !swanPacket
      ? ` (this host's strongSwan predates hw_offload = packet, ${HW_OFFLOAD_MODES_SINCE})`
      : ` (packet mode not in ${mesh.mode} mode on this NIC)`;
  return {
    decision: "nic-crypto-offload",
    reason: `${name} does ${cipher.id} in crypto mode${why}, at line rate ${formatSpeed(line)}`,
    throughputBps: line,
  };
}

export interface PairDecision {
  method: "esp" | "exempt" | "refused";
  cipher: EspCipherId | null;
  families: Family[];
  natT: boolean;
  sides: [SideEvaluation, SideEvaluation] | null;
  mtu: MtuPlan | null;
  capacity: { nicSpeedBps: number; estimateBps: number; ok: boolean } | null;
  /** The 32-bit ESP sequence number at the pair's estimated rate; null when the pair has no ESP. */
  sequence: SequencePlan | null;
  reasons: string[];
  /** Every cipher looked at, for `explain`. */
  considered: { cipher: EspCipherId; sides: [SideEvaluation, SideEvaluation]; score: number | null }[];
  problems: { severity: "error" | "warning"; code: string; message: string }[];
}

/**
 * Decides one host pair (or a whole class of alike pairs): whether it needs ESP, with which cipher, and how each side
 * runs it. The cipher that gives the pair the most throughput wins, then the one that offloads more, then the policy's
 * order; then the ESP sequence number is checked against the rekey interval at that rate (ESN or rekey_packets).
 */
export function decidePair(
  a: HostTraits,
  b: HostTraits,
  path: PathTraits,
  mesh: Pick<ModelMesh, "mode" | "offload" | "ciphers" | "natT" | "overlay" | "name">,
  policy: PolicyProfile,
  perf: XfrmPerfProfile,
  /** Reused across the pair classes of one mesh: side evaluations per traits object, budgets per stack. */
  cache: DecideCache = newDecideCache(),
): PairDecision {
  const problems: PairDecision["problems"] = [];
  const families = a.families.filter((f) => b.families.includes(f));
  const natT = mesh.natT || path.natT;
  const base = { families, natT, considered: [] as PairDecision["considered"] };
  if (families.length === 0) {
    const msg = `the hosts share no address family (${fam(a.families)} vs ${fam(b.families)})`;
    problems.push({ severity: "error", code: "pair.no-family", message: msg });
    return { ...base, method: "refused", cipher: null, sides: null, mtu: null, capacity: null, sequence: null, reasons: [msg], problems };
  }
  if (path.hardwareEncrypted && policy.meshOverEncryptedLinks === "optional") {
    return {
      ...base,
      method: "exempt",
      cipher: null,
      sides: null,
      mtu: null,
      capacity: null,
      sequence: null,
      problems,
      reasons: [
        `every link between the two sites is hardware-encrypted and policy ${policy.name} does not require host ESP on top ` +
          "(meshOverEncryptedLinks: optional); this pair's traffic is in clear on the site LANs at either end",
      ],
    };
  }
  const reasons: string[] = [];
  if (path.hardwareEncrypted)
    reasons.push(`defence in depth: policy ${policy.name} requires host ESP even where the links are hardware-encrypted`);

  // What the pair could otherwise push: the slower NIC, or the slowest link between the sites.
  const nicSpeedBps = Math.min(a.nicSpeedBps, b.nicSpeedBps, path.speedBps ?? Infinity);
  type Option = { cipher: EspCipher; sides: [SideEvaluation, SideEvaluation]; score: number; estimateBps: number };
  // The cipher that moves the pair's traffic fastest wins (estimates capped at what the path carries, so ciphers that
  // all keep up tie); then the one that offloads more (less CPU); then the policy's order. A mesh that requires
  // offload ranks offload first.
  const better = (x: Option, y: Option) =>
    mesh.offload === "require"
      ? x.score > y.score || (x.score === y.score && x.estimateBps > y.estimateBps)
      : x.estimateBps > y.estimateBps || (x.estimateBps === y.estimateBps && x.score > y.score);
  let best: Option | undefined;
  let firstOption: Option | undefined;
  for (const id of mesh.ciphers) {
    const cipher = espCipher(id);
    const sides: [SideEvaluation, SideEvaluation] = [
      cachedSide(cache, a, cipher, mesh, natT, families, perf),
      cachedSide(cache, b, cipher, mesh, natT, families, perf),
    ];
    const usable = sides.every((s) => s.decision !== "unavailable");
    const score = usable ? SCORE[sides[0].decision as SideDecision] + SCORE[sides[1].decision as SideDecision] : null;
    base.considered.push({ cipher: id, sides, score });
    if (score === null) continue;
    const option: Option = { cipher, sides, score, estimateBps: Math.min(sides[0].throughputBps, sides[1].throughputBps, nicSpeedBps) };
    if (id === mesh.ciphers[0]) firstOption = option;
    if (!best || better(option, best)) best = option;
  }
  if (!best) {
    const msg = `no cipher both hosts can run under policy ${policy.name}: ${base.considered
      .map(
        (c) =>
          `${c.cipher}: ${c.sides
            .filter((s) => s.decision === "unavailable")
            .map((s) => s.reason)
            .join("; ")}`,
      )
      .join(" | ")}`;
    problems.push({ severity: "error", code: "pair.no-cipher", message: msg });
    return { ...base, method: "refused", cipher: null, sides: null, mtu: null, capacity: null, sequence: null, reasons: [msg], problems };
  }
  const first = base.considered[0]!;
  if (best.cipher.id === first.cipher)
    reasons.push(`${best.cipher.id}: the policy's first choice${best.score > 0 ? " and the one that offloads most" : ""}`);
  else if (!firstOption) reasons.push(`${best.cipher.id} rather than ${first.cipher}: the hosts cannot both run ${first.cipher}`);
  else {
    const why: string[] = [];
    if (best.estimateBps !== firstOption.estimateBps)
      why.push(
        `it is faster for this pair (~${formatSpeed(best.estimateBps)} per SA against ~${formatSpeed(firstOption.estimateBps)})` +
          (best.cipher.family === "chacha20-poly1305" && [a, b].some((t) => t.cpuTier === "generic")
            ? ": without AES-NI, ChaCha20-Poly1305 runs about 3x faster than AES in software and is not timing-sensitive (RFC 8439 §1)"
            : ""),
      );
    if (best.score !== firstOption.score)
      why.push(`it offloads more (${describeScore(best.sides)} vs ${describeScore(firstOption.sides)})`);
    reasons.push(`${best.cipher.id} rather than ${first.cipher}: ${why.join("; ")}`);
  }
  if (mesh.offload === "require") {
    for (const [i, s] of best.sides.entries())
      if (s.decision === "host-xfrm")
        problems.push({
          severity: "error",
          code: "pair.offload-required",
          message: `mesh ${mesh.name} requires NIC offload, but side ${i === 0 ? "A" : "B"} cannot: ${s.reason}`,
        });
  }

  // MTU: the smaller NIC, then whatever the links carry after their own encryption.
  const pathMtu = Math.min(a.nicMtu, b.nicMtu, path.linksMtu ?? Infinity);
  let mtu: MtuPlan | null = null;
  for (const f of families) {
    const stack: Layer[] = [
      ...(mesh.overlay === "vxlan" ? [{ kind: "vxlan", family: f } as const] : []),
      { kind: "esp", cipher: best.cipher, mode: mesh.mode, family: f, natT },
    ];
    const bkey = `${best.cipher.id}|${mesh.mode}|${mesh.overlay}|${f}|${natT}|${pathMtu}`;
    let bud = cache.budgets.get(bkey);
    if (!bud) {
      bud = budget(stack, pathMtu, f);
      cache.budgets.set(bkey, bud);
    }
    if (!mtu || bud.maxInnerMtu < mtu.maxInnerMtu)
      mtu = {
        pathMtu,
        overheadBytes: bud.overheadBytes,
        maxInnerMtu: bud.maxInnerMtu,
        recommendedMtu: bud.maxInnerMtu,
        mssClamp: bud.mssClamp,
        layers: bud.layers,
      };
  }
  if (families.includes(6) && mtu!.maxInnerMtu < 1280)
    problems.push({
      severity: "error",
      code: "mtu.ipv6-minimum",
      message: `only ${mtu!.maxInnerMtu} bytes fit inside ESP, below the IPv6 minimum MTU of 1280`,
    });

  const estimateBps = best.estimateBps;
  const ok = estimateBps >= nicSpeedBps;
  if (!ok) {
    const carrier =
      path.speedBps !== null && path.speedBps <= Math.min(a.nicSpeedBps, b.nicSpeedBps) ? "the path carries" : "the NICs carry";
    problems.push({
      severity: "warning",
      code: "capacity.xfrm-slow",
      message:
        `host xfrm is estimated at ${formatSpeed(estimateBps)} per SA, below the ${formatSpeed(nicSpeedBps)} ${carrier}: ` +
        `one pair's traffic tops out near ${formatSpeed(estimateBps)}`,
    });
  }

  // The 32-bit ESP sequence number at that rate: ESN where every part supports it, else a packet-count rekey.
  const sequence = espSequencePlan(
    estimateBps,
    policy.lifetimes.childSeconds,
    [a, b].map((t, i) => esnBlocker(t, best.sides[i]!, i === 0 ? "A" : "B")),
  );
  if (sequence.exhausts) reasons.push(sequence.detail);
  return {
    ...base,
    method: "esp",
    cipher: best.cipher.id,
    sides: best.sides,
    mtu,
    reasons,
    problems,
    capacity: { nicSpeedBps, estimateBps, ok },
    sequence,
  };
}

/** Memo for deciding many pair classes of one mesh: the same side and the same stack come back again and again. */
export interface DecideCache {
  sides: WeakMap<HostTraits, Map<string, SideEvaluation>>;
  budgets: Map<string, Budget>;
}

export function newDecideCache(): DecideCache {
  return { sides: new WeakMap(), budgets: new Map() };
}

function cachedSide(
  cache: DecideCache,
  t: HostTraits,
  cipher: EspCipher,
  mesh: Pick<ModelMesh, "mode" | "offload">,
  natT: boolean,
  families: readonly Family[],
  perf: XfrmPerfProfile,
): SideEvaluation {
  let m = cache.sides.get(t);
  if (!m) cache.sides.set(t, (m = new Map()));
  const k = `${cipher.id}|${mesh.mode}|${mesh.offload}|${natT}|${families.join(",")}`;
  let s = m.get(k);
  if (!s) m.set(k, (s = evaluateSide(t, cipher, mesh, natT, families, perf)));
  return s;
}

/** Why one side cannot use ESN: its strongSwan, or a NIC that offloads the SA but cannot carry ESN state. */
function esnBlocker(t: HostTraits, s: SideEvaluation, label: string): string | undefined {
  if (!t.strongswan.esn) return `side ${label}'s strongSwan predates ESN (${ESN_SINCE})`;
  if ((s.decision === "nic-packet-offload" || s.decision === "nic-crypto-offload") && !t.nicProfile.espOffload.esn)
    return `side ${label}'s ${t.nicProfile.model} (${t.nicProfile.kernelDriver}) offloads the SA but not with ESN (the kernel would refuse packet offload or silently fall back to software)`;
  return undefined;
}

function describeScore(sides: readonly SideEvaluation[]): string {
  return sides.map((s) => s.decision).join(" + ");
}

function fam(f: readonly Family[]): string {
  return f.map((x) => `IPv${x}`).join("+") || "none";
}
