/**
 * How long a MACsec SA's packet-number space lasts at line rate. A non-XPN suite has a 32-bit PN, so one SAK carries
 * at most 2^32 frames before MKA must have installed a new one; XPN (802.1AEbw) widens the PN to 64 bits.
 *
 * Each frame occupies its own bytes plus 8 bytes of preamble/SFD and a 12-byte inter-frame gap on the wire
 * (IEEE 802.3), so a link of S bit/s carries S / ((frame + 20) * 8) frames per second.
 */
export const WIRE_OVERHEAD_BYTES = 20;
export const MIN_FRAME_BYTES = 64;

export function framesPerSecond(speedBps: number, frameBytes: number): number {
  return speedBps / ((frameBytes + WIRE_OVERHEAD_BYTES) * 8);
}

export function secondsToExhaust(speedBps: number, frameBytes: number, pnBits: 32 | 64): number {
  return 2 ** pnBits / framesPerSecond(speedBps, frameBytes);
}

/** One sentence with the numbers, for reasons and `explain`. */
export function explainPnExhaustion(speedBps: number): string {
  const pps = framesPerSecond(speedBps, MIN_FRAME_BYTES);
  const s32 = secondsToExhaust(speedBps, MIN_FRAME_BYTES, 32);
  const s32big = secondsToExhaust(speedBps, 1518, 32);
  const years64 = secondsToExhaust(speedBps, MIN_FRAME_BYTES, 64) / (365.25 * 86400);
  return (
    `at ${formatRate(speedBps)} line rate with 64-byte frames (84 bytes on the wire) the link carries ` +
    `${(pps / 1e6).toFixed(1)} Mframes/s, so a 32-bit packet number (2^32 frames) is exhausted in ` +
    `${s32.toFixed(1)} s (${s32big.toFixed(0)} s with 1518-byte frames), forcing SAK rekeys faster than MKA can ` +
    `be trusted to deliver them; XPN's 64-bit PN lasts ${years64.toExponential(2)} years`
  );
}

function formatRate(bps: number): string {
  return bps >= 1e9 ? `${bps / 1e9}G` : `${bps / 1e6}M`;
}
