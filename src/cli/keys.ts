import { randomUUID } from "node:crypto";
import { refuseMeshSubset, runRotateLinks } from "../apply/run-rotate.js";
import { EXIT_INTERRUPTED, openCliState } from "../state/cli.js";
import { InputError, UsageError } from "../errors.js";
import type { Inventory } from "../model/inventory-schema.js";
import { keyAges } from "../keys/status.js";
import { rotateMeshMaster } from "../keys/rotate-mesh.js";
import { SshPool } from "../transport/ssh.js";
import { cliAccess, loadAll, planFromLoaded } from "./load.js";
import { meshAuthFor, meshHostsFor, pskMasterSecretName } from "../mesh/mesh-access.js";
import { EXIT, formatTable, json, type Out } from "./output.js";

export interface KeysCliOptions {
  inventory?: string;
  state?: string;
  stateDir?: string;
  stateKey?: string;
  secrets?: string;
  knownHosts?: string;
  confirmTimeout?: string;
  lab?: boolean;
  json?: boolean;
  /** --limit PATTERN: rotate link: only the links it selects (the others are reported "skipped (--limit)"); keys status: only their keys. */
  limit?: string;
  /** --batch N|N% (rotate link): the links in consecutive batches; a failing batch stops the later ones. */
  batch?: string;
  profiles: string[];
}

async function setup(o: KeysCliOptions, err: Out) {
  if (!o.inventory) throw new UsageError("needs --inventory FILE");
  const l = loadAll(o.inventory, o.profiles);
  const plan = planFromLoaded(l);
  if (!plan || !l.profiles || plan.summary.errors > 0)
    throw new InputError(`${o.inventory} does not plan cleanly: run linkcrypt plan ${o.inventory}`);
  const access = cliAccess(o);
  return {
    plan,
    profiles: l.profiles,
    inv: l.data as Inventory,
    access,
    store: await openCliState(o, plan.inventory, access.secrets, err, { file: o.inventory, state: (l.data as Inventory).state }),
  };
}

/**
 * `linkcrypt rotate link NAME` (MACsec, make-before-break; NAME may be a glob, narrowed by --limit, in --batch
 * batches) or `rotate mesh NAME` (new PSK master; SAs stay up).
 */
export async function runRotate(what: string, name: string, o: KeysCliOptions, out: Out, err: Out): Promise<number> {
  if (what !== "link" && what !== "mesh") throw new UsageError(`rotate takes "link NAME" or "mesh NAME"`);
  if (what === "mesh") refuseMeshSubset(o);
  const s = await setup(o, err);
  try {
    if (what === "link") {
      const r = await runRotateLinks({
        name,
        plan: s.plan,
        inv: s.inv,
        profiles: s.profiles,
        store: s.store,
        access: s.access,
        confirmTimeoutS: Number(o.confirmTimeout ?? 120),
        limit: o.limit,
        batch: o.batch,
        say: (line) => void err.write(`${line}\n`),
        onStep: (link, step, state) => {
          if (!o.json) err.write(`${link}: ${step} ${state}\n`);
        },
        ...(process.env.LINKCRYPT_TEST_PAUSE_AFTER_COMMIT_MS
          ? { pauseAfterCommitMs: Number(process.env.LINKCRYPT_TEST_PAUSE_AFTER_COMMIT_MS) }
          : {}),
      });
      // CKNs are key names, not secrets: show only a prefix so operators can match them on the devices.
      const ckn = (c: string) => `${c.slice(0, 8)}...`;
      if (r.single) {
        const x = r.links[0]!;
        if (x.outcome === "interrupted" || r.interrupted) {
          // A signal that came as the last step finished: the rotation is complete.
          const state = x.outcome === "interrupted" ? x.state : "rotated: only the new key on both ends";
          out.write(o.json ? json({ link: name, interrupted: true, state }) : `${name}: interrupted; ${state}\n`);
          return EXIT_INTERRUPTED;
        }
        if (x.outcome !== "rotated") throw new InputError(`${name}: ${x.detail}`);
        const shown = { oldCkn: ckn(x.oldCkn), newCkn: ckn(x.newCkn) };
        out.write(
          o.json
            ? json({ link: name, ...shown })
            : `${name}: rotated from CKN ${shown.oldCkn} to ${shown.newCkn}, make-before-break on both ends\n`,
        );
        return EXIT.changes;
      }
      const rows = r.links.map((x) => ({
        link: x.link,
        ...(x.batch !== undefined ? { batch: x.batch } : {}),
        outcome: x.outcome,
        ...(x.outcome === "rotated" ? { oldCkn: ckn(x.oldCkn), newCkn: ckn(x.newCkn) } : {}),
        ...(x.outcome === "interrupted" ? { state: x.state } : {}),
        ...(x.outcome === "failed" || x.outcome === "skipped" ? { detail: x.detail } : {}),
      }));
      if (o.json)
        out.write(json({ ...(o.limit !== undefined ? { limit: o.limit } : {}), ...(o.batch ? { batch: o.batch } : {}), links: rows }));
      else
        out.write(
          `${formatTable(
            ["link", "batch", "outcome", "detail"],
            rows.map((x) => [
              x.link,
              x.batch === undefined ? "-" : String(x.batch),
              x.outcome,
              x.outcome === "rotated" ? `CKN ${x.oldCkn} -> ${x.newCkn}, make-before-break on both ends` : (x.state ?? x.detail ?? ""),
            ]),
          )}\n`,
        );
      if (r.interrupted) return EXIT_INTERRUPTED;
      if (r.links.some((x) => x.outcome === "failed")) return EXIT.problems;
      return r.links.some((x) => x.outcome === "rotated") ? EXIT.changes : EXIT.ok;
    }
    const pool = new SshPool();
    let r: Awaited<ReturnType<typeof rotateMeshMaster>>;
    try {
      r = await rotateMeshMaster({
        name,
        plan: s.plan,
        inv: s.inv,
        store: s.store,
        run: randomUUID(),
        secretName: pskMasterSecretName(name),
        hosts: (mesh) => meshHostsFor(s.inv, mesh, pool, s.access),
        auth: (mesh) =>
          s.inv.meshes.find((m) => m.name === name)?.pskMaster === "state:"
            ? meshAuthFor(s.inv, mesh, s.access.secrets, { store: s.store })
            : meshAuthFor(s.inv, mesh, s.access.secrets),
        lab: o.lab === true,
      });
    } finally {
      await pool.closeAll();
    }
    out.write(
      o.json
        ? json({ mesh: name, pairs: r.pairs, up: r.up, reloadedConnections: r.reloadedConnections })
        : `${name}: new PSKs loaded on ${r.hosts} hosts; ${r.up}/${r.pairs} pairs up, connections reloaded: ${r.reloadedConnections}\n`,
    );
    return r.up === r.pairs ? EXIT.changes : EXIT.problems;
  } finally {
    await s.store.close();
  }
}

/** `linkcrypt keys status`: every key linkcrypt manages, its age against the policy's maximum. */
export async function runKeysStatus(o: KeysCliOptions, out: Out, err: Out): Promise<number> {
  const s = await setup(o, err);
  let rows: Awaited<ReturnType<typeof keyAges>>;
  try {
    rows = await keyAges(s.plan, s.inv, s.profiles, s.store, { secretName: pskMasterSecretName, limit: o.limit });
  } finally {
    await s.store.close();
  }
  if (o.json) out.write(json({ keys: rows }));
  else
    out.write(
      `${formatTable(
        ["key", "kind", "age (days)", "policy max", "state"],
        rows.map((r) => [
          r.key,
          r.kind,
          r.ageDays === null ? "never set" : r.ageDays.toFixed(1),
          String(r.maxDays),
          r.ageDays === null ? "not yet generated" : r.stale ? "STALE: rotate it" : "ok",
        ]),
      )}\n`,
    );
  return rows.some((r) => r.stale) ? EXIT.problems : EXIT.ok;
}
