import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { applyPlan, commitToken, pendingDeadlines, transactionEnds } from "../apply/apply.js";
import { factsDrift, planDrift } from "../apply/drift.js";
import { gatePlan, planDecisionDiffs } from "../apply/plan-gate.js";
import { checkPlanShape } from "../apply/plan-shape.js";
import { EXIT_INTERRUPTED, openCliState, withInterrupts } from "../state/cli.js";
import type { Driver } from "../../drivers/contract.js";
import { driverFor, type AccessOptions } from "../discover/device-access.js";
import { discover } from "../discover/discover.js";
import type { ProfileSet } from "../model/load-profiles.js";
import { InputError, UsageError } from "../errors.js";
import type { Inventory } from "../model/inventory-schema.js";
import type { Plan } from "../planner/plan-types.js";
import { SshPool } from "../transport/ssh.js";
import { cliAccess, loadAll, planFromLoaded, withFacts, withFactsFile } from "./load.js";
import { meshAuthFor, meshHostsFor, usesStateMaster } from "./mesh.js";
import { EXIT, formatTable, json, type Out } from "./output.js";
import { readBounded } from "../model/read-bounded.js";
import type { MeshAuth } from "../mesh/deliver.js";

/** A dry run of a mesh whose master is in the state store: only connections are diffed, so no master is read. */
const DRY_RUN_NO_AUTH: MeshAuth = { kind: "psk", master: Buffer.alloc(0) };

export interface ApplyCliOptions {
  inventory?: string;
  state?: string;
  stateDir?: string;
  stateKey?: string;
  dryRun?: boolean;
  confirmTimeout?: string;
  securedTimeout?: string;
  maxFailPercent?: string;
  concurrency?: string;
  perDevice?: string;
  perDeviceInterval?: string;
  perSite?: string;
  secrets?: string;
  knownHosts?: string;
  facts?: string;
  /** false with --no-refresh. */
  refresh?: boolean;
  lab?: boolean;
  json?: boolean;
  profiles: string[];
}

const num = (name: string, v: string | undefined, d: number, min = 0) => {
  if (v === undefined) return d;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`${name} must be a number >= ${min}, got "${v}"`);
  return n;
};

/**
 * `linkcrypt apply PLAN --inventory INV`: executes exactly the saved plan. Exit 0: nothing to change; 2: changes
 * applied (or, with --dry-run, pending); 1: a failure, or a plan that is errored, of another version, or stale.
 */
export async function runApply(planFile: string, o: ApplyCliOptions, out: Out, err: Out): Promise<number> {
  if (!o.inventory) throw new UsageError("apply needs --inventory FILE (device addresses and credential references)");
  let saved: unknown;
  try {
    saved = JSON.parse(readBounded(planFile));
  } catch (e) {
    throw new InputError(`cannot read plan ${planFile}: ${(e as Error).message}`, { cause: e });
  }
  checkPlanShape(saved, planFile);
  const base = loadAll(o.inventory, o.profiles);
  const l = o.facts === undefined ? base : withFactsFile(base, o.facts);
  const now = planFromLoaded(l);
  if (!now || !l.profiles) throw new InputError(`${o.inventory} is not valid: run linkcrypt validate ${o.inventory}`);
  // From here on apply acts only on the plan it re-derived itself; the file must agree with it (src/apply/plan-gate.ts).
  const plan = gatePlan({ saved, fresh: now, planFile, inventoryFile: o.inventory, factsFile: o.facts });

  const inv = l.data as Inventory;
  const access = cliAccess(o);
  const limits = {
    globalConcurrency: num("--concurrency", o.concurrency, 8, 1),
    perDeviceConcurrency: num("--per-device", o.perDevice, 1, 1),
    perDeviceMinTimeMs: num("--per-device-interval", o.perDeviceInterval, 0),
    ...(o.perSite ? { perSiteConcurrency: num("--per-site", o.perSite, 1, 1) } : {}),
  };

  // The plan was made from observed facts: read the devices again and refuse the plan if it would now come out different.
  if (l.facts && o.refresh !== false) {
    if (!o.json) err.write(`re-reading the devices' state to check ${planFile} against ${o.facts} (--no-refresh skips this)\n`);
    const fresh = await discover(inv, l.profiles, { ...access, limits, now: () => new Date() });
    const freshPlan = planFromLoaded(withFacts(base, fresh.facts))!;
    const changed = planDrift(plan, freshPlan);
    const seen = factsDrift(l.facts, fresh.facts);
    if (changed.length)
      throw new InputError(
        `${planFile} is stale: the devices no longer match ${o.facts}, and the plan would now differ for ${changed.join(", ")}. ` +
          `What changed: ${seen.join("; ") || "nothing in the compared fields"}. In the plan: ${planDecisionDiffs(plan, freshPlan).slice(0, 10).join("; ")}. Run linkcrypt discover --out ${o.facts} and linkcrypt plan again`,
      );
    if (seen.length && !o.json) err.write(`note: observed state changed, but the plan comes out the same: ${seen.join("; ")}\n`);
  }

  const store = await openCliState(o, plan.inventory, access.secrets, err, { file: o.inventory, state: inv.state });
  const run = randomUUID();
  const pool = new SshPool();
  try {
    const took = await store.lock(`apply ${planFile}`);
    if (took.tookOverFrom)
      err.write(
        `took over the state lock from a run that is gone (${took.tookOverFrom.owner}, pid ${took.tookOverFrom.pid} on ${took.tookOverFrom.host}); recovering from the journal\n`,
      );
    if (o.dryRun !== true) await store.checkKey(); // a wrong or missing state key stops here, before any device is touched
    for (const p of await pendingDeadlines(store, new Date())) {
      // First choice: cancel the orphaned confirmed commit on both ends by its token, at once and deterministically.
      const cancelled = await cancelOrphan(p, plan, inv, l.profiles, access, pool).catch((e: Error) => {
        err.write(`could not cancel ${p.target}'s unconfirmed commit (${e.message}); waiting for the devices' own rollback instead\n`);
        return undefined;
      });
      if (cancelled) {
        await store.append({
          at: new Date().toISOString(),
          run: p.run,
          step: "commit",
          target: p.target,
          state: "rolled-back",
          detail: `cancelled by run ${run}: ${cancelled}`,
        });
        err.write(`a previous run left ${p.target} committed but unconfirmed: ${cancelled}\n`);
        continue;
      }
      // Otherwise (a device with no such handle) wait it out, with a 5 s margin for the device's own rollback timer.
      const ms = p.deadline.getTime() - Date.now() + 5000;
      err.write(
        `waiting ${Math.ceil(ms / 1000)} s: a previous run left ${p.target} committed but unconfirmed; the device rolls it back at ${p.deadline.toISOString()}\n`,
      );
      await new Promise((r) => setTimeout(r, ms));
    }
    // A pskMaster "state:" is read from this store, or generated and stored sealed (a dry run neither reads nor makes
    // it: it only diffs the connections, which hold no secret).
    const stateAuths = new Map<string, MeshAuth>();
    if (o.dryRun !== true)
      for (const m of plan.meshes)
        if (m.auth === "psk" && usesStateMaster(inv, m.name))
          stateAuths.set(m.name, await meshAuthFor(inv, m, access.secrets, { store, generate: true, run }));
    const profiles = l.profiles;
    const { value: results, interrupted } = await withInterrupts(store, err, (signal) =>
      applyPlan(plan, inv, profiles, {
        access,
        store,
        run,
        signal,
        confirmTimeoutS: num("--confirm-timeout", o.confirmTimeout, 120, 1),
        securedTimeoutMs: num("--secured-timeout", o.securedTimeout, 60, 0) * 1000,
        dryRun: o.dryRun === true,
        maxFailPercent: num("--max-fail-percent", o.maxFailPercent, 0),
        limits,
        meshAccess: (name) => {
          const m = plan.meshes.find((x) => x.name === name);
          return m
            ? {
                hosts: meshHostsFor(inv, m, pool, access),
                auth:
                  stateAuths.get(name) ??
                  (m.auth === "psk" && usesStateMaster(inv, name) ? DRY_RUN_NO_AUTH : meshAuthFor(inv, m, access.secrets)),
                lab: o.lab === true,
              }
            : undefined;
        },
        // A live line on a terminal, plain lines otherwise (CI, pipes).
        onProgress: (line) => {
          if (o.json) return;
          if (process.stderr.isTTY && /^\[\d+\/\d+\] [^:]+: (changed|unchanged|planned)$/.test(line)) err.write(`\r${line}\x1b[K`);
          else err.write(`${process.stderr.isTTY ? "\r\x1b[K" : ""}${line}\n`);
        },
        // Test-only fault injection (documented in docs/apply.md): a window in which to kill the process.
        ...(process.env.LINKCRYPT_TEST_PAUSE_AFTER_COMMIT_MS
          ? { pauseAfterCommitMs: Number(process.env.LINKCRYPT_TEST_PAUSE_AFTER_COMMIT_MS) }
          : {}),
      }),
    );
    if (o.json) out.write(json({ run, dryRun: o.dryRun === true, results }));
    else {
      out.write(
        `${formatTable(
          ["target", "kind", "outcome", "detail"],
          results.map((r) => [r.target, r.kind, r.outcome, r.detail]),
        )}\n`,
      );
      for (const r of results) if (r.diff) out.write(`\n${r.target}:\n${r.diff}\n`);
    }
    if (interrupted) return EXIT_INTERRUPTED;
    if (results.some((r) => r.outcome === "failed")) return EXIT.problems;
    return results.some((r) => r.outcome === "changed" || r.outcome === "planned") ? EXIT.changes : EXIT.ok;
  } finally {
    await pool.closeAll().catch(() => undefined);
    await store.close();
  }
}

/**
 * Cancels a link's orphaned confirmed commit on both ends by the token the dead run committed with. Returns what was
 * done, or undefined when an end's driver has no way to (then the caller waits for the device's own timer).
 */
async function cancelOrphan(
  p: { run: string; target: string },
  plan: Plan,
  inv: Inventory,
  profiles: ProfileSet,
  access: AccessOptions,
  pool: SshPool,
): Promise<string | undefined> {
  const link = plan.links.find((x) => x.name === p.target);
  if (!link || (link.method !== "macsec" && link.method !== "l1")) return undefined;
  const drivers = transactionEnds(link).map((n) => {
    const d = inv.devices.find((x) => x.name === n);
    return d ? driverFor(d, profiles, pool, access) : undefined;
  });
  if (drivers.some((d) => !d?.cancelPending)) return undefined;
  const said: string[] = [];
  for (const d of drivers as Driver[]) {
    await d.connect();
    try {
      said.push(
        `${d.device} ${(await d.cancelPending!(commitToken(p.run, p.target))) ? "cancelled (cancel-commit by persist-id)" : "had nothing pending"}`,
      );
    } finally {
      await d.close().catch(() => undefined);
    }
  }
  return said.join(", ");
}
