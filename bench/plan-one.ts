/**
 * One benchmark size in its own process (so peak RSS belongs to that size): generate a fleet as YAML text, then
 * time the whole offline pipeline a user waits for (parse + validate + resolve + plan) and the pure planner alone.
 */
import { stringify } from "yaml";
import { generateFleet } from "../examples/generate-fleet.js";
import { loadProfiles } from "../src/model/load-profiles.js";
import { parseInventory } from "../src/model/load-inventory.js";
import { buildPlan } from "../src/planner/build-plan.js";

const arg = (n: string, d: number) => {
  const i = process.argv.indexOf(`--${n}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const hosts = arg("hosts", 1000);
const links = arg("links", 200);
const runs = arg("runs", 7);

const text = stringify(generateFleet({ hosts, links }), { lineWidth: 0 });
const { profiles } = loadProfiles();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const total: number[] = [];
const pure: number[] = [];
let pairs = 0;
let planBytes = 0;
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const r = parseInventory("fleet.yaml", text, profiles!);
  const t1 = performance.now();
  const plan = buildPlan(r.model!, { inventoryDigest: "bench", profilesDigest: "bench" }, r.diagnostics);
  const t2 = performance.now();
  total.push(t2 - t0);
  pure.push(t2 - t1);
  pairs = plan.summary.pairs;
  planBytes = JSON.stringify(plan).length;
}
const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
process.stdout.write(
  `${JSON.stringify({ hosts, links, pairs, planMsMedian: +median(total).toFixed(1), plannerMsMedian: +median(pure).toFixed(1), peakRssMb, planJsonKb: Math.round(planBytes / 1024), runs })}\n`,
);
