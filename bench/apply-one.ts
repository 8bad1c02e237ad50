/**
 * Apply at scale against IN-PROCESS SIMULATED devices (test/sim-driver.ts, not a peer): 500 switches joined by 250
 * MACsec links, every device operation costing one simulated 20 ms round trip. Reports the wall time against the
 * ideal: operations x RTT / concurrency, where concurrency is the number of device operations in flight: each link
 * transaction runs each step on its two ends at once, so TXNS transactions keep 2 x TXNS operations in flight.
 */
import { join } from "node:path";
import { type SimDevice, simDevice, simPlan } from "../test/sim-driver.js";
import { applyPlan } from "../src/apply/apply.js";
import { openState } from "../src/state/open.js";

const RTT = 20;
const LINKS = 250;
const TXNS = 50;
const sims: SimDevice[] = [];
const { plan, inv, profiles, dir } = simPlan(LINKS, {
  name: "sim",
  device: (name) => {
    const sim = simDevice(name, { rttMs: RTT });
    sims.push(sim);
    return sim.driver;
  },
});
const store = await openState({ state: join(dir, "state.sqlite"), inventory: "sim", secrets: { env: {} } });
const t0 = performance.now();
const results = await applyPlan(plan, inv, profiles, {
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
