import type { Server } from "node:http";
import { UsageError, InputError } from "../errors.js";
import { hasErrors } from "../model/diagnostics.js";
import type { Inventory } from "../model/inventory-schema.js";
import type { ProfileSet } from "../model/load-profiles.js";
import { keyStamps } from "../metrics/key-ages.js";
import type { AutoApplyDomain, ApplyOutcome } from "../serve/auto-apply.js";
import { deviceTargets, limitedVerify } from "../serve/devices.js";
import { leanSweep, mergeLean } from "../serve/sweep.js";
import { startHttp } from "../serve/http.js";
import { backendLeadership } from "../serve/leader.js";
import { streamLogger } from "../serve/log.js";
import { Reconciler, type ServeTarget } from "../serve/reconciler.js";
import { openCliState } from "../state/cli.js";
import { stateLocation } from "../state/open.js";
import { PgBackend } from "../state/postgres.js";
import { SqliteBackend } from "../state/sqlite.js";
import type { StateStore } from "../state/store.js";
import { driverFor } from "../devices/device-access.js";
import { DeviceLimiter } from "../transport/limiter.js";
import { SshPool } from "../transport/ssh.js";
import { verifyInventory } from "../verify/verify.js";
import { cliAccess, loadAll, planFromLoaded } from "./load.js";
import { formatDiagnostics, EXIT, type Out } from "./output.js";
import { dirname, join, resolve } from "node:path";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { runApply } from "./apply.js";
import { runRotate } from "./keys.js";
import { meshHostsFor, pskMasterSecretName } from "../mesh/mesh-access.js";

export interface ServeCliOptions {
  listen?: string;
  state?: string;
  stateKey?: string;
  facts?: string;
  secrets?: string;
  knownHosts?: string;
  interval?: string;
  /** Seconds between each switch's and encryptor's own checks (default 300), varied by ±10 %. */
  deviceInterval?: string;
  /** Device limits shared by the verify sweep and the device checks (apply's names): --concurrency, --per-device, --per-device-interval (ms). */
  concurrency?: string;
  perDevice?: string;
  perDeviceInterval?: string;
  breakerShare?: string;
  flapLimit?: string;
  maxAttempts?: string;
  refresh?: string;
  watch?: boolean;
  /** Meshes with more members than this are swept lean (default 200), reading --sweep-batch hosts at a time (default 8). */
  leanAbove?: string;
  sweepBatch?: string;
  /** Apply a pending plan, re-apply drift and rotate keys at their policy's age (src/serve/auto-apply.ts). */
  autoApply?: boolean;
  /** The hosts are a linkcrypt libipsec lab: what --auto-apply delivers is rendered for it (apply --lab). */
  lab?: boolean;
  logFormat?: string;
  profiles: string[];
}

export function parseListen(v: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/.exec(v.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--listen takes HOST:PORT (e.g. 127.0.0.1:9469), got "${v}"`);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
}

/** `linkcrypt serve INVENTORY`: runs until SIGTERM (exit 0); SIGHUP reloads. The reconciler is src/serve/. */
export async function runServe(file: string, o: ServeCliOptions, out: Out, err: Out): Promise<number> {
  const listen = parseListen(o.listen ?? "127.0.0.1:9469");
  if (o.logFormat && !["json", "text"].includes(o.logFormat))
    throw new UsageError(`--log-format must be json or text, got "${o.logFormat}"`);
  const log = streamLogger(out, { json: o.logFormat ? o.logFormat === "json" : !process.stdout.isTTY });
  const access = cliAccess(o);
  let profiles: ProfileSet | undefined;
  let journalRef: StateStore | undefined;
  const num = (v: string | undefined, d: number) => (v === undefined ? d : Number(v));
  // The limits every device operation of serve goes through (the full verify's links and the periodic checks).
  const limiter = new DeviceLimiter({
    globalConcurrency: num(o.concurrency, 8),
    perDeviceConcurrency: num(o.perDevice, 1),
    perDeviceMinTimeMs: num(o.perDeviceInterval, 0),
  });
  const leanAbove = num(o.leanAbove, 200);
  const sweepBatch = num(o.sweepBatch, 8);
  const load = async (): Promise<ServeTarget> => {
    const l = loadAll(file, o.profiles, o.facts);
    const plan = planFromLoaded(l);
    if (!plan || !l.profiles || hasErrors(plan.diagnostics))
      throw new InputError(`${file}: not valid\n${formatDiagnostics(plan?.diagnostics ?? l.diagnostics)}`);
    const inv = l.data as Inventory;
    const pool = new SshPool();
    const meshes = plan.meshes.map((mesh) => ({ mesh, hosts: meshHostsFor(inv, mesh, pool, access) }));
    profiles = l.profiles;
    const p = l.profiles;
    const loadedDigest = plan.inputs.inventoryDigest;
    return {
      plan,
      meshes,
      profiles: p,
      pendingPlan: () => {
        const now = planFromLoaded(loadAll(file, o.profiles, o.facts));
        return now && now.inputs.inventoryDigest !== loadedDigest ? now : undefined;
      },
      planPending: () => {
        const now = planFromLoaded(loadAll(file, o.profiles, o.facts));
        if (!now) return `${file} no longer loads; fix it before the next SIGHUP`;
        return now.inputs.inventoryDigest !== loadedDigest
          ? `${file} changed (digest ${now.inputs.inventoryDigest.slice(0, 19)}…, running ${loadedDigest.slice(0, 19)}…): run linkcrypt plan and apply, then SIGHUP`
          : undefined;
      },
      keyAges: () => keyStamps(plan, inv, journalRef, { pskMasterName: pskMasterSecretName }),
      // The link part of each full verify and the periodic device checks share one limiter.
      // A mesh of more than --lean-above members is swept lean (src/serve/sweep.ts): hosts read --sweep-batch at a
      // time, reduced as they come, pairs checked one by one.
      verify: async () => {
        const lean = plan.meshes.filter((m) => m.members.length > leanAbove);
        const rest = await limitedVerify({ ...plan, meshes: plan.meshes.filter((m) => !lean.includes(m)) }, limiter, (part) =>
          verifyInventory(part, inv, p, {
            access,
            now: () => new Date(),
            meshHosts: (name) => meshes.find((m) => m.mesh.name === name)!.hosts,
          }),
        );
        const sweeps = [];
        for (const m of lean) sweeps.push(await leanSweep(m, meshes.find((x) => x.mesh === m)!.hosts, { batch: sweepBatch }));
        return mergeLean(rest, sweeps);
      },
      devices: deviceTargets(plan),
      checkDevice: async (name) => {
        const dev = inv.devices.find((d) => d.name === name);
        if (!dev) throw new InputError(`${name} is not in the inventory`);
        const d = driverFor(dev, p, pool, access);
        try {
          return (await d.linkSecurity()).map((x) => ({
            port: x.port,
            status: x.status,
            detail: x.detail,
            ...(x.keyAgeSeconds !== undefined ? { keyAgeSeconds: x.keyAgeSeconds } : {}),
          }));
        } finally {
          await d.close().catch(() => undefined);
        }
      },
      close: () => pool.closeAll(),
    };
  };
  const first = await load();
  const inv = loadAll(file, o.profiles).data as Inventory;
  const journal = await openCliState(o, first.plan.inventory, access.secrets, err, { file, state: inv.state });
  journalRef = journal;
  // Leadership on a connection and namespace of its own: serve never holds the lock apply and rotate take.
  const loc = stateLocation({
    state: o.state,
    stateKey: o.stateKey,
    inventory: first.plan.inventory,
    secrets: access.secrets,
    inventoryState: inv.state ? { ...inv.state, base: dirname(resolve(file)) } : undefined,
  });
  const ns = `${first.plan.inventory}#serve`;
  const leaderBackend = loc.kind === "postgres" ? await PgBackend.connect(loc.url, ns) : new SqliteBackend(loc.path, ns);
  const leadership = backendLeadership(leaderBackend, `linkcrypt serve ${file}`);
  await first.close?.();
  const rec = new Reconciler(
    {
      load,
      journal,
      leadership,
      log,
      limiter,
      ...(o.autoApply
        ? {
            autoApply: serveApplyDomain({
              inventory: file,
              profiles: o.profiles,
              ...(o.facts ? { facts: o.facts } : {}),
              ...(o.state ? { state: o.state } : {}),
              ...(o.stateKey ? { stateKey: o.stateKey } : {}),
              ...(o.secrets ? { secrets: o.secrets } : {}),
              ...(o.knownHosts ? { knownHosts: o.knownHosts } : {}),
              ...(o.lab ? { lab: true } : {}),
            }),
          }
        : {}),
    },
    {
      verifyIntervalMs: num(o.interval, 60) * 1000,
      deviceIntervalMs: num(o.deviceInterval, 300) * 1000,
      breakerShare: num(o.breakerShare, 50) / 100,
      flapLimit: num(o.flapLimit, 3),
      maxAttempts: num(o.maxAttempts, 3),
      watch: o.watch !== false,
      autoApply: o.autoApply === true,
      ...(Number(process.env.LINKCRYPT_TEST_REPAIR_DELAY_MS) > 0
        ? { testRepairDelayMs: Number(process.env.LINKCRYPT_TEST_REPAIR_DELAY_MS) }
        : {}),
      ...(process.env.LINKCRYPT_SERVE_BREAKER_COOLDOWN_S
        ? { breakerCooldownMs: Number(process.env.LINKCRYPT_SERVE_BREAKER_COOLDOWN_S) * 1000 }
        : {}),
      ...(process.env.LINKCRYPT_SERVE_BACKOFF_MS ? { backoffMs: Number(process.env.LINKCRYPT_SERVE_BACKOFF_MS) } : {}),
    },
  );
  let server: Server;
  try {
    server = await startHttp({ snapshot: () => rec.snapshot(), profiles: () => profiles }, listen, { refreshS: num(o.refresh, 5) });
  } catch (e) {
    await journal.close();
    await leaderBackend.close();
    throw new InputError(`cannot listen on ${listen.host}:${listen.port}: ${(e as Error).message}`);
  }
  log.log("info", "listening", { address: `${listen.host}:${(server.address() as { port: number }).port}`, state: journal.where });
  const onTerm = (sig: string) => {
    log.log("info", `${sig}: stopping`, {});
    rec.stop();
  };
  const onHup = () => void rec.reload();
  process.on("SIGTERM", onTerm);
  process.on("SIGINT", onTerm);
  process.on("SIGHUP", onHup);
  try {
    await rec.run();
  } finally {
    process.off("SIGTERM", onTerm);
    process.off("SIGINT", onTerm);
    process.off("SIGHUP", onHup);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await journal.close();
    await leaderBackend.close();
    await limiter.stop().catch(() => undefined);
  }
  return EXIT.ok;
}

export interface CliDomainOptions {
  inventory: string;
  profiles: string[];
  facts?: string;
  state?: string;
  stateKey?: string;
  secrets?: string;
  knownHosts?: string;
  /** The hosts are a linkcrypt libipsec lab (apply --lab, rotate --lab): for the lab test. */
  lab?: boolean;
}

/**
 * --auto-apply's way to the apply and rotate domain (src/serve/auto-apply.ts's AutoApplyDomain): a thin adapter over
 * the CLI's runApply and runRotate, the one place to switch once the apply transaction is exported from src/apply. It
 * plans the inventory file, writes that plan to a temporary file and runs `apply PLAN --inventory FILE --json`, as an
 * operator would: apply takes the state lock, journals every step under its own run, and recovers a dead run's
 * commits. Their output is parsed, not printed.
 */
export function serveApplyDomain(o: CliDomainOptions): AutoApplyDomain {
  const common = {
    inventory: o.inventory,
    profiles: o.profiles,
    ...(o.state ? { state: o.state } : {}),
    ...(o.stateKey ? { stateKey: o.stateKey } : {}),
    ...(o.secrets ? { secrets: o.secrets } : {}),
    ...(o.knownHosts ? { knownHosts: o.knownHosts } : {}),
    ...(o.lab ? { lab: true } : {}),
    json: true,
  };
  return {
    async apply({ dryRun }) {
      const l = loadAll(o.inventory, o.profiles, o.facts);
      const plan = planFromLoaded(l);
      if (!plan) return { code: 1, results: [], error: `${o.inventory} no longer plans` };
      const dir = mkdtempSync(join(tmpdir(), "linkcrypt-serve-"));
      const file = join(dir, "plan.json");
      let text = "";
      let errText = "";
      try {
        writeFileSync(file, JSON.stringify(plan), { mode: 0o600 });
        const code = await runApply(
          file,
          { ...common, ...(o.facts ? { facts: o.facts } : {}), dryRun },
          { write: (s: string) => void (text += s) },
          { write: (s: string) => void (errText += s) },
        );
        const parsed = JSON.parse(text || "{}") as { run?: string; results?: ApplyOutcome["results"] };
        return {
          code,
          ...(parsed.run ? { run: parsed.run } : {}),
          results: (parsed.results ?? []).map((r) => ({ target: r.target, kind: r.kind, outcome: r.outcome, detail: r.detail })),
          ...(code === 1 && errText.trim() ? { error: errText.trim().split("\n").at(-1)! } : {}),
        };
      } catch (e) {
        return { code: 1, results: [], error: (e as Error).message };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    async rotate(what, name) {
      let text = "";
      let errText = "";
      try {
        const code = await runRotate(
          what,
          name,
          common,
          { write: (s: string) => void (text += s) },
          { write: (s: string) => void (errText += s) },
        );
        return { ok: code === 2, detail: `exit ${code}: ${text.trim() || errText.trim().split("\n").at(-1) || ""}` };
      } catch (e) {
        return { ok: false, detail: (e as Error).message };
      }
    },
  };
}
