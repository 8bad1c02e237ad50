/**
 * Apply at scale against IN-PROCESS SIMULATED devices (test/sim-driver.ts, not a peer): 500 switches joined by 250
 * MACsec links, every device operation costing one simulated 20 ms round trip. Reports the wall time against the
 * ideal: operations x RTT / concurrency, where concurrency is the number of device operations in flight: each link
 * transaction runs each step on its two ends at once, so TXNS transactions keep 2 x TXNS operations in flight.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import type { Driver } from "../drivers/contract.js";
import { registerDriver } from "../drivers/registry.js";
import { type SimDevice, simDevice } from "../test/sim-driver.js";
import { applyPlan } from "../src/apply/apply.js";
import { openState } from "../src/state/open.js";
import type { Inventory } from "../src/model/inventory-schema.js";
import { loadProfiles } from "../src/model/load-profiles.js";
import { parseInventory } from "../src/model/load-inventory.js";
import { buildPlan } from "../src/planner/build-plan.js";

const RTT = 20;
const LINKS = 250;
const TXNS = 50;
const sims: SimDevice[] = [];
registerDriver("sim-macsec", (ctx): Driver => {
  const sim = simDevice(ctx.device, { rttMs: RTT });
  sims.push(sim);
  return sim.driver;
});

const dir = mkdtempSync(join(tmpdir(), "lc-bench-apply-"));
writeFileSync(
  join(dir, "sim-switch.yaml"),
  stringify({
    kind: "switch",
    name: "sim-switch",
    vendor: "sim",
    model: "in-process simulator",
    driver: "sim-macsec",
    maxFrame: 9216,
    portGroups: [{ match: "eth*", macsec: { suites: ["GCM-AES-XPN-256"], sci: "always" } }],
  }),
);
const { profiles } = loadProfiles([dir]);
const sw = (name: string, site: string) => ({
  name,
  kind: "switch",
  site,
  profile: "sim-switch",
  management: { address: "sim", transport: "ssh" },
  ports: [{ name: "eth1", speed: "100G", mtu: 9000 }],
});
const inv = {
  version: 1,
  name: "sim",
  policy: "default",
  sites: [{ name: "a" }, { name: "b" }],
  devices: Array.from({ length: LINKS }, (_, i) => [sw(`a${i}`, "a"), sw(`b${i}`, "b")]).flat(),
  links: Array.from({ length: LINKS }, (_, i) => ({
    name: `l${i}`,
    a: `a${i}:eth1`,
    b: `b${i}:eth1`,
    medium: "dwdm",
    speed: "100G",
    pathMtu: 9216,
  })),
};
const r = parseInventory("sim.yaml", stringify(inv), profiles!);
const plan = buildPlan(r.model!, { inventoryDigest: "b", profilesDigest: "b" });
const store = await openState({ state: join(dir, "state.sqlite"), inventory: "sim", secrets: { env: {} } });
const t0 = performance.now();
const results = await applyPlan(plan, r.data as Inventory, profiles!, {
  access: { knownHostsFile: "/dev/null", acceptNewHostKey: false, secrets: { env: {} }, connectTimeoutMs: 1000, commandTimeoutMs: 1000 },
  store,
  run: "bench",
  confirmTimeoutS: 60,
  securedTimeoutMs: 5000,
  dryRun: false,
  maxFailPercent: 0,
  limits: { globalConcurrency: TXNS, perDeviceConcurrency: 1 },
});
const wallMs = performance.now() - t0;
const failed = results.filter((x) => x.outcome !== "changed").length;
const ops = sims.reduce((n, s) => n + s.ops.length, 0);
const idealMs = (ops * RTT) / (2 * TXNS);
process.stdout.write(
  `${JSON.stringify({
    bench: "apply",
    devices: LINKS * 2,
    links: LINKS,
    rttMs: RTT,
    operations: ops,
    concurrency: 2 * TXNS,
    linkTransactionsInFlight: TXNS,
    idealMs: Math.round(idealMs),
    wallMs: Math.round(wallMs),
    ratio: +(wallMs / idealMs).toFixed(2),
    failed,
  })}\n`,
);
