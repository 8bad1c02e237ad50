/**
 * `npm run bench`: one JSON line per size, each measured in a fresh process. Figures, not pass/fail: these machines
 * are noisy, so read medians and ratios. Targets (issue 2): 1,000 hosts planned in <= 1 s median, <= 512 MB peak RSS,
 * and cost growing no faster than the number of pairs.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const sizes = (process.env.BENCH_SIZES ?? "250,500,1000,2000").split(",").map(Number);
const runs = process.env.BENCH_RUNS ?? "7";
const one = fileURLToPath(new URL("./plan-one.ts", import.meta.url));
const tsx = fileURLToPath(new URL("../node_modules/tsx/dist/cli.mjs", import.meta.url));
const rows: { hosts: number; pairs: number; planMsMedian: number }[] = [];
for (const hosts of sizes) {
  const line = execFileSync(process.execPath, [tsx, one, "--hosts", String(hosts), "--links", "200", "--runs", runs], {
    encoding: "utf8",
  }).trim();
  process.stdout.write(`${line}\n`);
  rows.push(JSON.parse(line));
}
// Growth: time ratio against pair ratio between consecutive sizes (<= 1 means slower growth than the pairs).
for (let i = 1; i < rows.length; i++) {
  const [a, b] = [rows[i - 1]!, rows[i]!];
  const timeRatio = b.planMsMedian / a.planMsMedian;
  const pairRatio = b.pairs / a.pairs;
  process.stdout.write(
    `${JSON.stringify({ growth: `${a.hosts}->${b.hosts}`, timeRatio: +timeRatio.toFixed(2), pairRatio: +pairRatio.toFixed(2), timeOverPairs: +(timeRatio / pairRatio).toFixed(3) })}\n`,
  );
}

// Plans with discovered facts (issue 14 targets: 2,000 hosts with every host's facts distinct <= 1 s and <= 512 MB,
// <= 1.5x the same fleet with uniform facts; 10,000 hosts over 100 sites with facts <= 2 s; 20,000 hosts over 300
// sites <= 3 s; plan JSON <= 5 MB). Planner time is applying the facts and planning; CPU ms is steadier than wall ms.
const factsOne = fileURLToPath(new URL("./facts-one.ts", import.meta.url));
const gcEnv = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --expose-gc` };
const withFacts = (...args: string[]) => {
  const line = execFileSync(process.execPath, [tsx, factsOne, ...args, "--runs", process.env.BENCH_FACTS_RUNS ?? "5"], {
    encoding: "utf8",
    env: gcEnv,
  }).trim();
  process.stdout.write(`${line}\n`);
  return JSON.parse(line) as { plannerMsMedian: number; plannerCpuMsMedian: number };
};
const distinct = withFacts("--hosts", "2000", "--links", "200", "--facts", "distinct");
const uniform = withFacts("--hosts", "2000", "--links", "200", "--facts", "uniform");
process.stdout.write(
  `${JSON.stringify({
    facts: "2000 hosts, distinct vs uniform",
    timeRatio: +(distinct.plannerMsMedian / uniform.plannerMsMedian).toFixed(2),
    cpuRatio: +(distinct.plannerCpuMsMedian / uniform.plannerCpuMsMedian).toFixed(2),
  })}\n`,
);
withFacts("--hosts", "2000", "--links", "200", "--facts", "distinct", "--aes-hidden", "0.03");
withFacts("--hosts", "10000", "--sites", "100", "--links", "200", "--facts", "distinct");
withFacts("--hosts", "20000", "--sites", "300", "--links", "600", "--facts", "uniform");

// Mesh: rendering one host's configuration, and the pure pair check (issue 4 targets: < 50 ms and < 2 s at 1,000 hosts).
const meshOne = fileURLToPath(new URL("./mesh-one.ts", import.meta.url));
for (const hosts of (process.env.BENCH_MESH_SIZES ?? "1000").split(",").map(Number))
  process.stdout.write(execFileSync(process.execPath, [tsx, meshOne, "--hosts", String(hosts)], { encoding: "utf8" }));

// Apply against 500 in-process simulated devices at 20 ms RTT (issue 5 target: within 1.3x of the ideal).
const applyOne = fileURLToPath(new URL("./apply-one.ts", import.meta.url));
process.stdout.write(execFileSync(process.execPath, [tsx, applyOne], { encoding: "utf8" }));

// Start-up of the bundled bin against tsx, and plan --json identical both ways (issue 13 target: <= 0.3 s median).
const startupOne = fileURLToPath(new URL("./startup-one.ts", import.meta.url));
process.stdout.write(execFileSync(process.execPath, [tsx, startupOne], { encoding: "utf8" }));

// serve watching a synthetic 1,000-host mesh of FAKE in-process VICI peers (issue 12 targets: RSS <= 300 MB,
// child-updown -> repair action p99 <= 1 s), with serve's lean full sweep run BENCH_SERVE_SWEEPS times (default 3;
// medians of the sweep's time and peak RSS; 0 stubs the sweep).
const serveOne = fileURLToPath(new URL("./serve-one.ts", import.meta.url));
process.stdout.write(
  execFileSync(
    process.execPath,
    [
      tsx,
      serveOne,
      "--hosts",
      process.env.BENCH_SERVE_HOSTS ?? "1000",
      "--faults",
      "100",
      "--full-verify",
      process.env.BENCH_SERVE_SWEEPS ?? "3",
    ],
    { encoding: "utf8" },
  ),
);
