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
  const line = execFileSync(process.execPath, [tsx, one, "--hosts", String(hosts), "--links", "200", "--runs", runs], { encoding: "utf8" }).trim();
  process.stdout.write(`${line}\n`);
  rows.push(JSON.parse(line));
}
// Growth: time ratio against pair ratio between consecutive sizes (<= 1 means slower growth than the pairs).
for (let i = 1; i < rows.length; i++) {
  const [a, b] = [rows[i - 1]!, rows[i]!];
  const timeRatio = b.planMsMedian / a.planMsMedian;
  const pairRatio = b.pairs / a.pairs;
  process.stdout.write(`${JSON.stringify({ growth: `${a.hosts}->${b.hosts}`, timeRatio: +timeRatio.toFixed(2), pairRatio: +pairRatio.toFixed(2), timeOverPairs: +(timeRatio / pairRatio).toFixed(3) })}\n`);
}

// Mesh: rendering one host's configuration, and the pure pair check (issue 4 targets: < 50 ms and < 2 s at 1,000 hosts).
const meshOne = fileURLToPath(new URL("./mesh-one.ts", import.meta.url));
for (const hosts of (process.env.BENCH_MESH_SIZES ?? "1000").split(",").map(Number))
  process.stdout.write(execFileSync(process.execPath, [tsx, meshOne, "--hosts", String(hosts)], { encoding: "utf8" }));

// Apply against 500 in-process simulated devices at 20 ms RTT (issue 5 target: within 1.3x of the ideal).
const applyOne = fileURLToPath(new URL("./apply-one.ts", import.meta.url));
process.stdout.write(execFileSync(process.execPath, [tsx, applyOne], { encoding: "utf8" }));
