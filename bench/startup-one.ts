/**
 * Start-up (issue 13 target: `linkcrypt --version` and `linkcrypt mtu --path-mtu 1500 --json` in <= 0.3 s, median
 * of 10 runs). Builds the bundle first, checks that `plan --json` is byte-identical through the bundle and through
 * tsx for every example inventory, then times bin/linkcrypt.js both ways: wall and CPU medians, beside a bare
 * `node -e 0` for scale. One JSON line per command.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const bin = `${root}bin/linkcrypt.js`;
const runs = Number(process.env.BENCH_STARTUP_RUNS ?? "10");
execFileSync(process.execPath, [`${root}scripts/build.mjs`], { stdio: ["ignore", "ignore", "inherit"] });

// Both ways through bin/linkcrypt.js; forced, because in a shared checkout a source edited after the build would
// otherwise send the "bundle" runs to tsx.
const fromSource = { ...process.env, LINKCRYPT_FROM_SOURCE: "1" };
const fromBundle = { ...process.env, LINKCRYPT_FROM_SOURCE: "0" };
const run = (args: string[], env: NodeJS.ProcessEnv = fromBundle) => {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, env, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  return { code: r.status, out: r.stdout };
};

const examples = readdirSync(`${root}examples`).filter((f) => f.endsWith(".yaml"));
const differ = examples.filter((f) => {
  const a = run(["plan", `examples/${f}`, "--json"]);
  const b = run(["plan", `examples/${f}`, "--json"], fromSource);
  return a.code !== b.code || a.out !== b.out;
});
process.stdout.write(
  `${JSON.stringify({ startup: "plan --json, bundle vs tsx", examples: examples.length, identical: examples.length - differ.length, differ })}\n`,
);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
/**
 * CPU seconds (user + system) of the children waited for so far, from /proc/self/stat (Linux; 10 ms ticks). On a
 * loaded machine wall time mostly measures the queue; CPU time is what the start-up itself costs.
 */
const childCpuS = (): number | undefined => {
  try {
    const f = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
    return (Number(f[13]) + Number(f[14])) / 100; // cutime, cstime (fields 16 and 17)
  } catch {
    return undefined;
  }
};
const s3 = (x: number) => +x.toFixed(3);
const measure = (once: () => void) => {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const c = childCpuS();
    const t = process.hrtime.bigint();
    once();
    wall.push(Number(process.hrtime.bigint() - t) / 1e9);
    const c2 = childCpuS();
    if (c !== undefined && c2 !== undefined) cpu.push(c2 - c);
  }
  return { wallS: s3(median(wall)), cpuS: cpu.length ? s3(median(cpu)) : null };
};
const time = (args: string[], env?: NodeJS.ProcessEnv) =>
  measure(() => {
    const r = run(args, env);
    if (r.code !== 0) throw new Error(`linkcrypt ${args.join(" ")} exited ${r.code}`);
  });
const node = measure(() => spawnSync(process.execPath, ["-e", "0"]));
for (const args of [["--version"], ["mtu", "--path-mtu", "1500", "--json"]]) {
  const bundle = time(args);
  const tsx = time(args, fromSource);
  process.stdout.write(
    `${JSON.stringify({
      startup: `linkcrypt ${args.join(" ")}`,
      runs,
      bundleSMedian: bundle.wallS,
      bundleCpuSMedian: bundle.cpuS,
      tsxSMedian: tsx.wallS,
      tsxCpuSMedian: tsx.cpuS,
      bareNodeSMedian: node.wallS,
      bareNodeCpuSMedian: node.cpuS,
      targetS: 0.3,
    })}\n`,
  );
}
