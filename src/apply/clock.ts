/**
 * The clock apply reads and the sleeps it takes (between MKA polls, between steps on one device, until an orphaned
 * commit's deadline), injected so that the transaction and the recovery can be tested on a fake clock without
 * real waiting. `sleep` resolves early when `signal` aborts (an interrupt cuts a wait short).
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const t = setTimeout(done, Math.max(0, ms));
      function done() {
        clearTimeout(t);
        signal?.removeEventListener("abort", done);
        resolve();
      }
      signal?.addEventListener("abort", done, { once: true });
    }),
};
