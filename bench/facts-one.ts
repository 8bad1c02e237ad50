/**
 * One fleet with discovered facts, in its own process (so peak RSS belongs to it): generate the inventory and a facts
 * file (examples/generate-facts.ts: every host distinct, or uniform per host kind), then time
 *  - planner: applying the facts and planning (pure, what `plan --facts` spends after reading its inputs), as wall
 *    time and as this process's CPU time (user + system, GC threads included: steadier than wall time on a shared
 *    machine), and
 *  - end to end: parsing the inventory YAML and the facts JSON, the input digests, applying, planning.
 *
 *   npx tsx bench/facts-one.ts --hosts 2000 --links 200 [--sites 40] --facts distinct|uniform [--aes-hidden 0.03] [--runs 5]
 */
import { stringify } from "yaml";
import { generateFacts } from "../examples/generate-facts.js";
import { generateFleet } from "../examples/generate-fleet.js";
import { applyFacts, parseFactsFile } from "../src/model/facts.js";
import { loadProfiles } from "../src/model/load-profiles.js";
import { parseInventory } from "../src/model/load-inventory.js";
import { buildPlan, digest } from "../src/planner/build-plan.js";

const arg = (n: string, d?: string) => {
  const i = process.argv.indexOf(`--${n}`);
  return i > 0 ? process.argv[i + 1]! : d;
};
const hosts = Number(arg("hosts", "2000"));
const links = Number(arg("links", "200"));
const sites = arg("sites") === undefined ? undefined : Number(arg("sites"));
const variation = arg("facts", "distinct") as "distinct" | "uniform";
const runs = Number(arg("runs", "5"));
const aesHidden = Number(arg("aes-hidden", "0"));

const fleet = generateFleet({ hosts, links, ...(sites === undefined ? {} : { sites }) });
const yamlText = stringify(fleet, { lineWidth: 0 });
const factsText = JSON.stringify(generateFacts(fleet, { variation, aesHidden }));
const { profiles } = loadProfiles();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const planner: number[] = [];
const plannerCpu: number[] = [];
const endToEnd: number[] = [];
let out = { hostClasses: 0, pairClasses: 0, pathClasses: 0, pairs: 0, planBytes: 0, distinctFacts: 0 };
const gc = (globalThis as { gc?: () => void }).gc; // with --expose-gc, each run starts without the last one's garbage
for (let i = 0; i < runs; i++) {
  gc?.();
  const t0 = performance.now();
  const inv = parseInventory("fleet.yaml", yamlText, profiles!);
  const f = parseFactsFile(factsText, "facts.json");
  const t1 = performance.now();
  const c1 = process.cpuUsage();
  const applied = applyFacts(inv.model!, f.facts!);
  const plan = buildPlan(applied.model, { inventoryDigest: "bench", profilesDigest: "bench" }, [
    ...inv.diagnostics,
    ...applied.diagnostics,
  ]);
  const t2 = performance.now();
  const c2 = process.cpuUsage(c1);
  digest(inv.data);
  digest(f.facts!.devices);
  const t3 = performance.now();
  planner.push(t2 - t1);
  plannerCpu.push((c2.user + c2.system) / 1000);
  endToEnd.push(t3 - t0);
  const m = plan.meshes[0]!;
  if (i === 0) {
    const seen = new Set(Object.values(f.facts!.devices).map((d) => JSON.stringify((d as { host?: unknown }).host)));
    out = {
      hostClasses: m.hostClasses.length,
      pairClasses: m.pairClasses.length,
      pathClasses: m.pathClasses.length,
      pairs: m.pairs,
      planBytes: JSON.stringify(plan).length,
      distinctFacts: seen.size,
    };
  }
}
const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
process.stdout.write(
  `${JSON.stringify({
    bench: "plan-with-facts",
    hosts,
    sites: Array.isArray(fleet.sites) ? fleet.sites.length : sites,
    links,
    facts: variation,
    ...(aesHidden ? { aesHidden } : {}),
    distinctFacts: out.distinctFacts,
    hostClasses: out.hostClasses,
    pathClasses: out.pathClasses,
    pairClasses: out.pairClasses,
    pairs: out.pairs,
    plannerMsMedian: +median(planner).toFixed(1),
    plannerCpuMsMedian: +median(plannerCpu).toFixed(1),
    endToEndMsMedian: +median(endToEnd).toFixed(1),
    peakRssMb,
    planJsonKb: Math.round(out.planBytes / 1024),
    runs,
  })}\n`,
);
