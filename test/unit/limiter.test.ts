import { describe, expect, it } from "vitest";
import { DeviceLimiter } from "../../src/transport/limiter.js";

describe("transport: limiter", () => {
  it("never exceeds the per-device or the global concurrency", async () => {
    const lim = new DeviceLimiter({ globalConcurrency: 3, perDeviceConcurrency: 2 });
    let global = 0;
    let maxGlobal = 0;
    const per = new Map<string, number>();
    const maxPer = new Map<string, number>();
    const task = (dev: string) =>
      lim.schedule(dev, async () => {
        global++;
        per.set(dev, (per.get(dev) ?? 0) + 1);
        maxGlobal = Math.max(maxGlobal, global);
        maxPer.set(dev, Math.max(maxPer.get(dev) ?? 0, per.get(dev)!));
        await new Promise((r) => setTimeout(r, 40));
        global--;
        per.set(dev, per.get(dev)! - 1);
        return dev;
      });
    const devs = ["a", "a", "a", "a", "b", "b", "b", "c", "c", "d"];
    const out = await Promise.all(devs.map(task));
    expect(out).toEqual(devs);
    expect(maxGlobal).toBeLessThanOrEqual(3);
    expect(maxGlobal).toBeGreaterThan(1); // it limits, it does not serialize
    expect(Math.max(...maxPer.values())).toBeLessThanOrEqual(2);
    await lim.stop();
  });

  it("one device gets exactly its own cap when the global cap is larger", async () => {
    const lim = new DeviceLimiter({ globalConcurrency: 5, perDeviceConcurrency: 2 });
    let now = 0;
    let max = 0;
    await Promise.all(
      Array.from({ length: 6 }, () =>
        lim.schedule("only", async () => {
          max = Math.max(max, ++now);
          await new Promise((r) => setTimeout(r, 20));
          now--;
        }),
      ),
    );
    expect(max).toBe(2);
    await lim.stop();
  });

  it("a failing task fails alone", async () => {
    const lim = new DeviceLimiter({ globalConcurrency: 2, perDeviceConcurrency: 1 });
    const r = await Promise.allSettled([
      lim.schedule("x", async () => {
        throw new Error("boom");
      }),
      lim.schedule("x", async () => 1),
    ]);
    expect(r.map((x) => x.status)).toEqual(["rejected", "fulfilled"]);
    await lim.stop();
  });
});

describe("transport: limiter (multi-device)", () => {
  it("many operations over overlapping device pairs finish: no deadlock, global cap respected", async () => {
    const lim = new DeviceLimiter({ globalConcurrency: 4, perDeviceConcurrency: 1 });
    let now = 0;
    let max = 0;
    const pairs = Array.from({ length: 60 }, (_, i) => [`d${i % 7}`, `d${(i * 3 + 1) % 7}`]);
    const done = await Promise.all(
      pairs.map((p, i) =>
        lim.scheduleDevices(p, async () => {
          max = Math.max(max, ++now);
          await new Promise((r) => setTimeout(r, 2));
          now--;
          return i;
        }),
      ),
    );
    expect(done).toHaveLength(60);
    expect(max).toBeLessThanOrEqual(4);
    await lim.stop();
  });
});

describe("transport: limiter (rate limit)", () => {
  it("a per-device minimum interval spaces operations on a device (Bottleneck)", async () => {
    const lim = new DeviceLimiter({ globalConcurrency: 10, perDeviceConcurrency: 5, perDeviceMinTimeMs: 50 });
    const starts: number[] = [];
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 4 }, () => lim.schedule("sw1", async () => void starts.push(performance.now() - t0))));
    starts.sort((a, b) => a - b);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(45);
    await lim.stop();
  });
});

describe("transport: limiter (per site)", () => {
  it("caps operations touching one site", async () => {
    const lim = new DeviceLimiter({ globalConcurrency: 20, perDeviceConcurrency: 1, perSiteConcurrency: 2 });
    let now = 0;
    let max = 0;
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        lim.scheduleDevices([`a${i}`, `b${i}`], async () => {
          max = Math.max(max, ++now);
          await new Promise((r) => setTimeout(r, 10));
          now--;
        }, ["site-a", "site-b"]),
      ),
    );
    expect(max).toBe(2);
    await lim.stop();
  });
});
