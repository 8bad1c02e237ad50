import { formatSpeed } from "../model/speed.js";
import { framesPerSecond, WIRE_OVERHEAD_BYTES } from "./pn-exhaustion.js";

/**
 * How long an ESP SA's 32-bit sequence number lasts (RFC 4303 §2.2 and §3.3.3): a sender must not let it cycle, so
 * without Extended Sequence Numbers an SA carries at most 2^32 - 1 packets and must be rekeyed before that. ESN
 * (RFC 4303 §2.2.1) makes the counter 64 bits wide; only the low 32 bits are sent, so it costs nothing on the wire.
 *
 * The packet rate is worked out as on a MACsec link: the pair's estimated rate over full-size packets. A 1500-byte IP
 * packet is a 1518-byte Ethernet frame (14 header + 4 FCS), and 8 bytes of preamble/SFD plus a 12-byte gap make
 * 1538 bytes on the wire. At 100G: 100e9 / (1538 * 8) = 8.13 Mpackets/s, so 2^32 packets last 528 s.
 */
export const SEQUENCE_BITS = 32;
export const FULL_SIZE_FRAME_BYTES = 1518;

/**
 * strongSwan closes a CHILD_SA at `life_packets`, which defaults to `rekey_packets` + 10% (swanctl.conf). The largest
 * `rekey_packets` whose hard limit still fits the 32-bit counter is floor((2^32 - 1) / 1.1).
 */
export const REKEY_PACKETS = Math.floor((2 ** SEQUENCE_BITS - 1) / 1.1);

export interface SequencePlan {
  /** Full-size packets per second per SA at the pair's estimated rate. */
  packetsPerSecond: number;
  /** Seconds until 2^32 packets have been sent at that rate. */
  secondsToWrap: number;
  childLifetimeSeconds: number;
  /** 2^32 runs out before the time-based rekey. */
  exhausts: boolean;
  /** Plan ESN (`-esn` in the ESP proposal). */
  esn: boolean;
  /** Otherwise, rekey by packet count (swanctl `rekey_packets`); null when time alone is enough or ESN is used. */
  rekeyPackets: number | null;
  /** The arithmetic and the decision, in one sentence, for reasons and `explain`. */
  detail: string;
}

/** Why a side cannot use ESN, or undefined when it can. */
export type EsnBlocker = string | undefined;

export function espSequencePlan(rateBps: number, childLifetimeSeconds: number, blockers: readonly EsnBlocker[]): SequencePlan {
  const pps = framesPerSecond(rateBps, FULL_SIZE_FRAME_BYTES);
  const secondsToWrap = 2 ** SEQUENCE_BITS / pps;
  const exhausts = secondsToWrap < childLifetimeSeconds;
  const arithmetic =
    `at ~${formatSpeed(rateBps)} per SA with 1500-byte packets (${FULL_SIZE_FRAME_BYTES + WIRE_OVERHEAD_BYTES} bytes on the wire) ` +
    `an SA sends ${(pps / 1e6).toFixed(2)} Mpackets/s, so its 32-bit ESP sequence number (2^32 packets) runs out in ` +
    `${secondsToWrap.toFixed(0)} s`;
  const base = { packetsPerSecond: pps, secondsToWrap, childLifetimeSeconds, exhausts };
  if (!exhausts)
    return {
      ...base,
      esn: false,
      rekeyPackets: null,
      detail: `${arithmetic}, after the ${childLifetimeSeconds} s CHILD_SA rekey: no ESN needed`,
    };
  const why = blockers.filter((b): b is string => b !== undefined);
  if (why.length === 0)
    return {
      ...base,
      esn: true,
      rekeyPackets: null,
      detail: `${arithmetic}, before the ${childLifetimeSeconds} s CHILD_SA rekey: ESN (64-bit sequence numbers, RFC 4303 §2.2.1) is planned; both ends support it`,
    };
  return {
    ...base,
    esn: false,
    rekeyPackets: REKEY_PACKETS,
    detail:
      `${arithmetic}, before the ${childLifetimeSeconds} s CHILD_SA rekey; ESN is not possible (${why.join("; ")}), ` +
      `so the CHILD_SA is rekeyed after ${REKEY_PACKETS} packets (rekey_packets; strongSwan's hard limit, 10% more, stays below 2^32), ` +
      `about every ${(REKEY_PACKETS / pps).toFixed(0)} s at that rate`,
  };
}
