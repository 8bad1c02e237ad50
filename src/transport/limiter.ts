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

  async stop(): Promise<void> {
    await this.global.stop({ dropWaitingJobs: false });
  }
}
