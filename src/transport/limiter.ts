import Bottleneck from "bottleneck";

/**
 * Limits for every transport: a per-device cap (a switch's management plane is easily overwhelmed), an optional
 * per-device minimum interval between operations (a rate limit), and a global cap on operations in flight.
 *
 * - Concurrency caps are in-process semaphores.
 * - A per-device rate limit (`perDeviceMinTimeMs` > 0) uses Bottleneck groups, which can also share limits across
 *   processes through Redis later.
 *
 * Why not Bottleneck for the plain caps: its local datastore yields a timer tick on every internal step, about
 * 2.5 ms per job. Behind one global limiter those ticks serialize: 250 link transactions took ~0.6 s of pure
 * scheduling. Across 500 per-device limiters they cost another ~0.2 s of CPU. Measured with bench/apply-one.ts:
 * 2.2x the ideal with Bottleneck throughout, against the 1.3x target.
 */
export interface LimiterOptions {
  /** Operations in flight across all devices. */
  globalConcurrency: number;
  /** Operations in flight against one device. */
  perDeviceConcurrency: number;
  /** Minimum ms between operation starts against one device (0 = none). */
  perDeviceMinTimeMs?: number;
  /** Operations in flight touching one site (no limit when unset). */
  perSiteConcurrency?: number;
}

/** A counting semaphore; a released slot passes straight to the next waiter, so the cap is never exceeded. */
export class Semaphore {
  private active = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active < this.max) this.active++;
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.active--;
    }
  }
}

export class DeviceLimiter {
  private readonly global: Semaphore;
  private readonly rated: Bottleneck.Group | undefined;
  private readonly caps = new Map<string, Semaphore>();

  constructor(private readonly o: LimiterOptions) {
    this.global = new Semaphore(o.globalConcurrency);
    this.rated =
      (o.perDeviceMinTimeMs ?? 0) > 0
        ? new Bottleneck.Group({ maxConcurrent: o.perDeviceConcurrency, minTime: o.perDeviceMinTimeMs! })
        : undefined;
  }

  private device<T>(name: string, fn: () => Promise<T>): Promise<T> {
    if (this.rated) {
      const p = this.rated.key(name).schedule(fn);
      this.inFlight.add(p);
      void p.then(
        () => this.inFlight.delete(p),
        () => this.inFlight.delete(p),
      );
      return p;
    }
    let s = this.caps.get(name);
    if (!s) this.caps.set(name, (s = new Semaphore(this.o.perDeviceConcurrency)));
    return s.run(fn);
  }

  /** Run `fn` once both the device's and the global limit allow it. */
  schedule<T>(device: string, fn: () => Promise<T>): Promise<T> {
    return this.scheduleDevices([device], fn);
  }

  /**
   * Run `fn` while holding every listed device's limit and one global slot. Devices are taken in sorted order, so two
   * operations over overlapping device sets cannot deadlock; the global slot is taken last and only once (holding
   * global slots while waiting for a device would let waiting jobs starve the running ones).
   */
  scheduleDevices<T>(devices: readonly string[], fn: () => Promise<T>, sites: readonly string[] = []): Promise<T> {
    const sorted = [...new Set(devices)].sort();
    // Sites first (sorted), then devices (sorted), then the global slot: one fixed order, so no deadlock.
    const siteKeys = this.o.perSiteConcurrency ? [...new Set(sites)].sort() : [];
    const run = (i: number): Promise<T> => (i === sorted.length ? this.global.run(fn) : this.device(sorted[i]!, () => run(i + 1)));
    const runSites = (j: number): Promise<T> => (j === siteKeys.length ? run(0) : this.site(siteKeys[j]!).run(() => runSites(j + 1)));
    return runSites(0);
  }

  private readonly sites = new Map<string, Semaphore>();
  private site(name: string): Semaphore {
    let s = this.sites.get(name);
    if (!s) this.sites.set(name, (s = new Semaphore(this.o.perSiteConcurrency!)));
    return s;
  }

  private readonly inFlight = new Set<Promise<unknown>>();

  /**
   * Let every scheduled job finish, then stop. Bottleneck's own graceful stop also waits out `minTime` after the last
   * job, which for a long --per-device-interval would keep the process alive for nothing: with nothing left to run,
   * dropping the (empty) queue stops at once.
   */
  async stop(): Promise<void> {
    if (!this.rated) return;
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    await Promise.all(this.rated.limiters().map((l) => l.limiter.stop({ dropWaitingJobs: true })));
  }
}
