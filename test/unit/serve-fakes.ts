import type { Clock } from "../../src/serve/reconciler.js";

/** A FAKE clock for serve's unit tests: no real sleeping; time moves only when a test advances it. */
export class FakeClock implements Clock {
  t = 1_000_000;
  rnd = 0.5;
  private timers: { at: number; resolve: () => void }[] = [];
  now(): number {
    return this.t;
  }
  random(): number {
    return this.rnd;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = { at: this.t + ms, resolve };
      this.timers.push(timer);
      signal?.addEventListener(
        "abort",
        () => {
          this.timers = this.timers.filter((x) => x !== timer);
          resolve();
        },
        { once: true },
      );
    });
  }
  /** Moves time forward by `ms`, firing each timer at its own time, letting the code it wakes run in between. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await flush();
    for (;;) {
      const next = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.t = Math.max(this.t, next.at);
      this.timers = this.timers.filter((x) => x !== next);
      next.resolve();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}
