import { runApplyRequest } from "../apply/run-apply.js";
import { EXIT_INTERRUPTED, openCliState } from "../state/cli.js";
import { InputError, UsageError } from "../errors.js";
import type { Inventory } from "../model/inventory-schema.js";
import type { MeshAuth } from "../mesh/deliver.js";
import { readBounded } from "../util/read-bounded.js";
import { SshPool } from "../transport/ssh.js";
import { cliAccess, loadAll, planFromLoaded, withFacts, withFactsFile } from "./load.js";
import { meshAuthFor, meshHostsFor, usesStateMaster } from "../mesh/mesh-access.js";
import { EXIT, formatTable, json, type Out } from "./output.js";

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
  /** --limit PATTERN: only the links and mesh hosts it selects; the rest are reported "skipped (--limit)". */
  limit?: string;
  /** --batch N|N%: the selected targets in consecutive batches; a failing batch stops the later ones. */
  batch?: string;
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
  const base = loadAll(o.inventory, o.profiles);
  const l = o.facts === undefined ? base : withFactsFile(base, o.facts);
  const fresh = planFromLoaded(l);
  if (!fresh || !l.profiles) throw new InputError(`${o.inventory} is not valid: run linkcrypt validate ${o.inventory}`);
  const inv = l.data as Inventory;
  const access = cliAccess(o);
  const pool = new SshPool();
  const say = (line: string) => void err.write(`${line}\n`);
  try {
    const r = await runApplyRequest({
      planFile,
      saved,
      fresh,
      inventoryFile: o.inventory,
      factsFile: o.facts,
      inv,
      profiles: l.profiles,
      refresh: l.facts && o.refresh !== false ? { facts: l.facts, replan: (facts) => planFromLoaded(withFacts(base, facts))! } : undefined,
      openStore: () => openCliState(o, fresh.inventory, access.secrets, err, { file: o.inventory!, state: inv.state }),
      access,
      limits: {
        globalConcurrency: num("--concurrency", o.concurrency, 8, 1),
        perDeviceConcurrency: num("--per-device", o.perDevice, 1, 1),
        perDeviceMinTimeMs: num("--per-device-interval", o.perDeviceInterval, 0),
        ...(o.perSite ? { perSiteConcurrency: num("--per-site", o.perSite, 1, 1) } : {}),
      },
      dryRun: o.dryRun === true,
      confirmTimeoutS: num("--confirm-timeout", o.confirmTimeout, 120, 1),
      securedTimeoutMs: num("--secured-timeout", o.securedTimeout, 60, 0) * 1000,
      maxFailPercent: num("--max-fail-percent", o.maxFailPercent, 0),
      limit: o.limit,
      batch: o.batch,
      meshes: async (store, run, plan) => {
        // A pskMaster "state:" is read from this store, or generated and stored sealed (a dry run neither reads nor
        // makes it: it only diffs the connections, which hold no secret).
        const stateAuths = new Map<string, MeshAuth>();
        if (o.dryRun !== true)
          for (const m of plan.meshes)
            if (m.auth === "psk" && usesStateMaster(inv, m.name))
              stateAuths.set(m.name, await meshAuthFor(inv, m, access.secrets, { store, generate: true, run }));
        return (name) => {
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
        };
      },
      say,
      ...(o.json ? {} : { note: say }),
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
    });
    const { results } = r;
    if (o.json)
      out.write(
        json({
          run: r.run,
          dryRun: r.dryRun,
          ...(r.limit !== undefined ? { limit: r.limit } : {}),
          ...(r.batch ? { batch: r.batch } : {}),
          results,
        }),
      );
    else {
      const batched = results.some((x) => x.batch !== undefined);
      out.write(
        `${formatTable(
          batched ? ["target", "kind", "batch", "outcome", "detail"] : ["target", "kind", "outcome", "detail"],
          results.map((x) =>
            batched
              ? [x.target, x.kind, x.batch === undefined ? "-" : String(x.batch), x.outcome, x.detail]
              : [x.target, x.kind, x.outcome, x.detail],
          ),
        )}\n`,
      );
      for (const x of results) if (x.diff) out.write(`\n${x.target}:\n${x.diff}\n`);
    }
    if (r.interrupted) return EXIT_INTERRUPTED;
    if (results.some((x) => x.outcome === "failed")) return EXIT.problems;
    return results.some((x) => x.outcome === "changed" || x.outcome === "planned") ? EXIT.changes : EXIT.ok;
  } finally {
    await pool.closeAll().catch(() => undefined);
  }
}
