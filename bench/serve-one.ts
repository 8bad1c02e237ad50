/**
 * serve at scale, against FAKE VICI peers (bench/fake-vici.ts: in-process UNIX-socket servers that speak enough
 * VICI; not strongSwan). serve's reconciler watches every host's event stream of a synthetic N-host full mesh;
 * pairs are then broken one after another (child-updown down to both hosts) and the time from the fake's event to
 * the fake receiving serve's `initiate` for that pair is the reaction. Periodic full verify is off here (a stub):
 * this measures watching and reacting. Targets (issue 12): RSS <= 300 MB, reaction p99 <= 1 s at 1,000 hosts.
 * The fakes run in the same process, so the RSS figure includes them.
 *
 * --full-verify N: serve's own lean sweep (src/serve/sweep.ts, as `serve` runs it for a mesh above --lean-above)
 * reads every fake host's SAs --batch at a time and checks every pair; it runs N times while serve watches, and the
 * sweep's time and the process's peak RSS are reported (medians over the N sweeps).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeViciMesh, fakeMeshPlan } from "./fake-vici.js";
import { syntheticHostNames } from "../src/mesh/synthetic-sas.js";
import type { MeshPlan, Plan } from "../src/planner/plan-types.js";
import { soleLeader } from "../src/serve/leader.js";
import { Reconciler } from "../src/serve/reconciler.js";
import { leanSweep, mergeLean } from "../src/serve/sweep.js";
import type { VerifyReport } from "../src/verify/verify.js";
import type { JournalEntry } from "../src/state/store.js";

const arg = (n: string, d: number) => {
  const i = process.argv.indexOf(n);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const n = arg("--hosts", 1000);
const faults = arg("--faults", 200);
const gapMs = arg("--gap-ms", 50);
/** --full-verify N: N full sweeps (serve's lean sweep of every host's SAs and every pair); 0: the sweep is stubbed. */
const sweeps = arg("--full-verify", 0);
const fullVerify = sweeps > 0;
const batch = arg("--batch", 8);

const dir = mkdtempSync(join(tmpdir(), "lc-bench-serve-"));
const hosts = syntheticHostNames(n);
const fake = new FakeViciMesh(dir, hosts);
await fake.start();
const mesh: MeshPlan = fakeMeshPlan("bench", hosts);
const plan = {
  inventory: "bench-fake",
  links: [],
  meshes: [mesh],
  inputs: { inventoryDigest: "d", profilesDigest: "p" },
  generator: "bench",
} as unknown as Plan;
const journal: JournalEntry[] = [];
const verifyMs: number[] = [];
const sweepRss: number[] = [];
let lastCounts: Record<string, number> = {};
async function verifyAll(): Promise<VerifyReport> {
  const t = performance.now();
  const r = await leanSweep(mesh, fake.access(), { batch });
  verifyMs.push(performance.now() - t);
  lastCounts = r.counts;
  const at = new Date().toISOString();
  return mergeLean({ format: "linkcrypt-verify", version: 1, plan: plan.inputs, observedAt: at, entries: [] }, [r]);
}
let peakRss = 0;
let sweepPeak = 0;
const sampler = setInterval(() => {
  const rss = process.memoryUsage().rss;
  peakRss = Math.max(peakRss, rss);
  sweepPeak = Math.max(sweepPeak, rss);
}, 50);
const rec = new Reconciler(
  {
    load: async () => ({
      plan,
      meshes: [{ mesh, hosts: fake.access() }],
      verify: fullVerify
        ? verifyAll
        : async () => ({ format: "linkcrypt-verify", version: 1, plan: plan.inputs, observedAt: new Date().toISOString(), entries: [] }),
    }),
    journal: { append: async (e) => void journal.push(e), journal: async () => journal },
    leadership: soleLeader,
    log: { log: () => undefined },
  },
  { verifyIntervalMs: 3_600_000, concurrency: 8, breakerShare: 0.9, flapLimit: 1_000_000 },
);
const done = rec.run();
const t0 = performance.now();
while (rec.snapshot().watching.filter((w) => w.connected).length < n) {
  if (performance.now() - t0 > 120_000) throw new Error("the watchers did not all connect within 120 s");
  await new Promise((r) => setTimeout(r, 50));
}
const connectMs = performance.now() - t0;
if (fullVerify) {
  while (!rec.snapshot().ready) await new Promise((r) => setTimeout(r, 50));
  sweepRss.push(sweepPeak);
  // More sweeps, as serve's periodic verify runs them, each with its own peak.
  for (let k = 1; k < sweeps; k++) {
    sweepPeak = 0;
    const before = verifyMs.length;
    rec.verifyNow();
    while (verifyMs.length === before || rec.snapshot().lastVerifyAt === undefined) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 100));
    sweepRss.push(sweepPeak);
  }
}
// Deterministic distinct pairs spread over the mesh.
const reactions: number[] = [];
let seed = 7;
const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
for (let k = 0; k < faults; k++) {
  let a = hosts[Math.floor(rnd() * n)]!;
  let b = hosts[Math.floor(rnd() * n)]!;
  if (a === b) b = hosts[(hosts.indexOf(a) + 1) % n]!;
  if (a > b) [a, b] = [b, a];
  const key = FakeViciMesh.key(a, b);
  const before = fake.initiated.length;
  const at = performance.now();
  fake.dropPair(a, b);
  const end = at + 10_000;
  while (!fake.initiated.slice(before).some((x) => x.pair === key) && performance.now() < end) await new Promise((r) => setTimeout(r, 2));
  const hit = fake.initiated.slice(before).find((x) => x.pair === key);
  reactions.push(hit ? hit.at - at : Infinity);
  await new Promise((r) => setTimeout(r, gapMs));
}
const sorted = [...reactions].sort((x, y) => x - y);
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : Number.NaN;
}
const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
peakRss = Math.max(peakRss, process.memoryUsage().rss);
rec.stop();
await done;
clearInterval(sampler);
await fake.stop();
rmSync(dir, { recursive: true, force: true });
const repaired = journal.filter((e) => e.step === "serve-repair" && e.state === "done").length;
process.stdout.write(
  `${JSON.stringify({
    bench: "serve-fake-vici",
    peers: "FAKE in-process VICI peers (not strongSwan)",
    hosts: n,
    faults,
    repaired,
    fullVerify: fullVerify
      ? {
          sweep: "serve's lean sweep (src/serve/sweep.ts)",
          batch,
          sweeps: verifyMs.length,
          pairs: (n * (n - 1)) / 2,
          counts: lastCounts,
          msMedian: Math.round(median(verifyMs)),
          peakRssMbMedian: Math.round(median(sweepRss) / 2 ** 20),
        }
      : "stubbed",
    watchConnectMs: Math.round(connectMs),
    reactionMsP50: +pct(50).toFixed(1),
    reactionMsP99: +pct(99).toFixed(1),
    reactionMsMax: +sorted[sorted.length - 1]!.toFixed(1),
    peakRssMb: Math.round(peakRss / 2 ** 20),
    targets: { rssMb: 300, reactionMsP99: 1000 },
    pass: pct(99) <= 1000 && peakRss <= 300 * 2 ** 20,
    ...(fullVerify ? { sweepPeakRssMbMax: Math.round(Math.max(...sweepRss) / 2 ** 20) } : {}),
  })}\n`,
);
process.exit(0);
