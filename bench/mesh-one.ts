/**
 * Mesh figures in their own process: rendering one host's swanctl.conf (and VICI messages) in an N-host mesh, and
 * the pure pair check over a synthetic N-host SA table (one INSTALLED CHILD_SA per side per pair).
 */
import { stringify } from "yaml";
import { generateFleet } from "../examples/generate-fleet.js";
import { checkPairs } from "../src/mesh/check-pairs.js";
import { meshConnSpecs } from "../src/planner/conn-spec.js";
import { syntheticMeshTables } from "../src/mesh/synthetic-sas.js";
import { loadProfiles } from "../src/model/load-profiles.js";
import { parseInventory } from "../src/model/load-inventory.js";
import { buildPlan } from "../src/planner/build-plan.js";
import { connToVici, renderSwanctlConf } from "../src/render/swanctl.js";

const i = process.argv.indexOf("--hosts");
const hosts = i > 0 ? Number(process.argv[i + 1]) : 1000;
const runs = 7;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const { profiles } = loadProfiles();
const r = parseInventory("fleet.yaml", stringify(generateFleet({ hosts, links: 200 })), profiles!);
const mesh = buildPlan(r.model!, { inventoryDigest: "b", profilesDigest: "b" }).meshes[0]!;
const host = mesh.members[Math.floor(hosts / 2)]!.name;
const render: number[] = [];
let conns = 0;
let bytes = 0;
for (let k = 0; k < runs; k++) {
  const t0 = performance.now();
  const specs = meshConnSpecs(mesh, host);
  const conf = renderSwanctlConf(host, specs);
  for (const s of specs) connToVici(s);
  render.push(performance.now() - t0);
  conns = specs.length;
  bytes = conf.length;
}
process.stdout.write(
  `${JSON.stringify({ bench: "render-one-host", hosts, connections: conns, confKb: Math.round(bytes / 1024), renderMsMedian: +median(render).toFixed(1), runs })}\n`,
);

const { pairs, tables } = syntheticMeshTables(hosts);
const check: number[] = [];
for (let k = 0; k < 3; k++) {
  const t0 = performance.now();
  checkPairs(pairs, tables, { idleAfterS: 300 });
  check.push(performance.now() - t0);
}
const childSas = tables.reduce((a, t) => a + t.children.length, 0);
process.stdout.write(
  `${JSON.stringify({ bench: "pair-check", hosts, pairs: pairs.length, childSas, checkMsMedian: +median(check).toFixed(0), peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024), runs: 3 })}\n`,
);
