import Bottleneck from "bottleneck";

/**
 * Rate limits for every transport: a global cap on concurrent operations and a per-device cap (a switch's
 * management plane is easily overwhelmed). Bottleneck can later share these limits across processes via Redis.
 */
export interface LimiterOptions {
  /** Operations in flight across all devices. */
  globalConcurrency: number;
  /** Operations in flight against one device. */
  perDeviceConcurrency: number;
  /** Minimum ms between operation starts against one device (0 = none). */
  perDeviceMinTimeMs?: number;
}

export class DeviceLimiter {
  private readonly global: Bottleneck;
  private readonly perDevice: Bottleneck.Group;

  constructor(o: LimiterOptions) {
    this.global = new Bottleneck({ maxConcurrent: o.globalConcurrency });
    this.perDevice = new Bottleneck.Group({ maxConcurrent: o.perDeviceConcurrency, minTime: o.perDeviceMinTimeMs ?? 0 });
  }

  /** Run `fn` once both the device's and the global limit allow it. */
  schedule<T>(device: string, fn: () => Promise<T>): Promise<T> {
    return this.perDevice.key(device).schedule(() => this.global.schedule(fn));
  }

  /**
   * Run `fn` while holding every listed device's limit and one global slot. Devices are taken in sorted order, so two
   * operations over overlapping device sets cannot deadlock; the global slot is taken last and only once (holding
   * global slots while waiting for a device would let waiting jobs starve the running ones).
   */
  scheduleDevices<T>(devices: readonly string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(devices)].sort();
    const run = (i: number): Promise<T> =>
      i === sorted.length ? this.global.schedule(fn) : this.perDevice.key(sorted[i]!).schedule(() => run(i + 1));
    return run(0);
  }

  async stop(): Promise<void> {
    await this.global.stop({ dropWaitingJobs: false });
  }
}
