import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labDown, readLab } from "../../src/lab/lab.js";
import { openState } from "../../src/state/open.js";
import type { JournalEntry } from "../../src/state/store.js";
import { ViciClient } from "../../src/transport/vici.js";
import { cli } from "../cli-run.js";
import { startPostgres, type PgCluster } from "../lab/postgres.js";
import { startServe, type ServeProc } from "../lab/serve-proc.js";

/**
 * Two `serve` replicas on one throwaway PostgreSQL (test/lab/postgres.ts) watching the libipsec lab. The leader is
 * killed with SIGKILL in the middle of a repair (after it journaled the repair, before it acted: the test-only
 * LINKCRYPT_TEST_REPAIR_DELAY_MS holds it there). The standby must take the lead within 15 s and finish that repair
 * from the journal: one run, started by the old leader and closed by the new one, and no second run.
 */
const root = mkdtempSync(join(tmpdir(), "lc-serve-ha-"));
const dir = join(root, "lab");
const inv = join(dir, "inventory.yaml");
let pg: PgCluster;
let a: ServeProc | undefined;
let b: ServeProc | undefined;
let name: string;

async function journal(): Promise<JournalEntry[]> {
  const s = await openState({ state: pg.url, inventory: name, secrets: { env: {} } });
  try {
    return await s.journal();
  } finally {
    await s.close();
  }
}

beforeAll(async () => {
  pg = await startPostgres();
  const r = await cli("lab", "up", "examples/mesh-lab.yaml", "--name", "serveha", "--dir", dir);
  expect(r.code, r.out + r.err).toBe(0);
  const d = await cli("mesh", "deliver", inv, "--lab");
  expect(d.code, d.out + d.err).toBe(0);
  name = /^name:\s*(.+)$/m.exec(readFileSync(inv, "utf8"))![1]!.trim().replace(/^"|"$/g, "");
}, 120_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await labDown(dir);
  await pg?.stop();
  rmSync(root, { recursive: true, force: true });
}, 60_000);

describe("serve: two replicas on PostgreSQL", () => {
  it("the standby takes over within 15 s of the leader's SIGKILL mid-repair, and the repair is done exactly once", async () => {
    const args = [inv, "--listen", "127.0.0.1:0", "--state", pg.url, "--interval", "30"];
    a = await startServe(args, { LINKCRYPT_TEST_REPAIR_DELAY_MS: "4000" });
    await a.waitLog("A leads", (l) => l.msg === "leading");
    await a.waitLog("A verified", (l) => l.msg === "verified");
    b = await startServe(args);
    await b.waitLog("B started", (l) => l.msg === "serve started");
    await new Promise((r) => setTimeout(r, 1500));
    expect(b.logs.some((l) => l.msg === "leading")).toBe(false);
    expect((await b.get("/readyz")).status).toBe(503);
    expect((await b.get("/metrics")).body).toMatch(/^linkcrypt_serve_leader\{inventory="[^"]+"\} 0$/m);
    expect((await a.get("/metrics")).body).toMatch(/^linkcrypt_serve_leader\{inventory="[^"]+"\} 1$/m);

    // The fault: app1 tears down its pair with db1; A journals the repair, then holds for 4 s before acting.
    const lab = readLab(dir)!;
    const v = await ViciClient.connect({ device: "app1", socketPath: lab.hosts.find((h) => h.name === "app1")!.viciSocket });
    await v.request("terminate", { ike: "mesh-db1", force: "yes", timeout: "2000" });
    v.close();
    await a.waitLog("A journaled the repair", (l) => l.msg === "repairing");
    const started = (await journal()).filter((e) => e.step === "serve-repair" && e.state === "started");
    expect(started).toHaveLength(1);
    const run = started[0]!.run;
    const killedAt = Date.now();
    a.child.kill("SIGKILL");
    await b.waitLog("B leads", (l) => l.msg === "leading", 15_000);
    const takeoverS = (Date.now() - killedAt) / 1000;
    await b.waitLog(
      "B finished the repair",
      (l) => (l.msg === "repaired" || l.msg === "the previous leader's repair had taken effect") && l.cid === run,
      30_000,
    );
    console.log(
      `serve failover: standby led ${takeoverS.toFixed(2)} s after the leader's SIGKILL; repair run ${run} finished ${((Date.now() - killedAt) / 1000).toFixed(2)} s after it`,
    );
    expect(takeoverS).toBeLessThanOrEqual(15);

    const j = (await journal()).filter((e) => e.step === "serve-repair");
    expect(j.map((e) => [e.run, e.state])).toEqual([
      [run, "started"],
      [run, "done"],
    ]);
    expect(j[1]!.detail).toMatch(/taken over from the previous leader/);
    expect((await journal()).filter((e) => e.step === "serve-lead")).toHaveLength(2);
    await b.waitLog("B verified", (l) => l.msg === "verified");
    const st = JSON.parse((await b.get("/api/status")).body);
    const pair = st.entries.find((e: { name: string }) => e.name === "dc1-lan:app1~db1");
    expect(pair.status).toBe("secured");
    const mv = await cli("mesh", "verify", inv, "--json");
    expect(JSON.parse(mv.out).pairs.every((p: { status: string }) => p.status === "up" || p.status === "idle")).toBe(true);
  }, 120_000);
});
