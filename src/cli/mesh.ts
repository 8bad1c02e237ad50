import { limitScope, selectPairs } from "../discover/limit-targets.js";
import { UsageError } from "../errors.js";
import { hasErrors } from "../model/diagnostics.js";
import type { Inventory } from "../model/inventory-schema.js";
import { deliverMesh, type MeshAuth } from "../mesh/deliver.js";
import type { HostAccess } from "../mesh/host-access.js";
import { meshAuthFor, meshHostsFor, usesStateMaster } from "../mesh/mesh-access.js";
import { clearException, espPairs, meshDown, meshStatus, repairPairs, verifyMesh } from "../mesh/operations.js";
import { userInfo } from "node:os";
import type { MeshPlan } from "../planner/plan-types.js";
import type { SecretSources } from "../secrets.js";
import { SshPool } from "../transport/ssh.js";
import { openCliState, type StateCliOptions } from "../state/cli.js";
import { cliAccess, loadAll, planFromLoaded } from "./load.js";
import { EXIT, invalidInventory, formatTable, json, type Out } from "./output.js";

export interface MeshCliOptions extends StateCliOptions {
  mesh?: string;
  hosts?: string;
  json?: boolean;
  blocking?: boolean;
  knownHosts?: string;
  secrets?: string;
  profiles: string[];
  lab?: boolean;
  block?: boolean;
  clear?: boolean;
  reason?: string;
  limit?: string;
  sshConfig?: string;
}

interface Ctx {
  file: string;
  /** The inventory's identity (the plan's), which names its state. */
  inventory: string;
  mesh: MeshPlan;
  hosts: HostAccess[];
  inv: Inventory;
  pool: SshPool;
  /** `--limit`, for JSON output: the pattern and the members it left out. */
  limit?: { pattern: string; limitedOut: { hosts: string[] } };
  /** `--limit`: the pairs whose findings count (the others are not reported). */
  inScope?: (f: { a: string; b: string }) => boolean;
}

function context(verb: string, file: string, o: MeshCliOptions, out: Out): Ctx | number {
  const l = loadAll(file, o.profiles);
  const plan = planFromLoaded(l);
  if (!plan || !l.data || hasErrors(plan.diagnostics)) {
    out.write(
      invalidInventory(file, plan?.diagnostics ?? l.diagnostics, o.json, `the plan has errors; fix them first (linkcrypt plan ${file})`),
    );
    return EXIT.problems;
  }
  const inv = l.data as Inventory;
  const mesh = o.mesh ? plan.meshes.find((m) => m.name === o.mesh) : plan.meshes.length === 1 ? plan.meshes[0] : undefined;
  if (!mesh)
    throw new UsageError(o.mesh ? `no mesh "${o.mesh}" in ${file}` : `${file} has ${plan.meshes.length} meshes: choose one with --mesh`);
  const subset = o.hosts
    ? new Set(
        o.hosts
          .split(",")
          .map((h) => h.trim())
          .filter(Boolean),
      )
    : undefined;
  for (const h of subset ?? [])
    if (!mesh.members.some((m) => m.name === h)) throw new UsageError(`host "${h}" is not a member of mesh ${mesh.name}`);
  // --limit: deliver, up, down and status act on the selected members (by host name or site), like --hosts; verify
  // and repair on the selected pairs (either host or its site matches, neither is excluded), reading both hosts of
  // each. With --hosts too, a host must pass both. Pairs outside the limit are left out of the findings.
  const scope = limitScope(inv, o.limit);
  let only = subset;
  let limit: Ctx["limit"];
  let inScope: Ctx["inScope"];
  if (scope) {
    const names = mesh.members.map((m) => m.name);
    const pairs = verb === "verify" || verb === "repair" ? selectPairs(scope, inv, espPairs(mesh)) : undefined;
    const chosen = pairs
      ? names.filter((h) => [...pairs].some((p) => p.split("~").includes(h)) && (!subset || subset.has(h)))
      : names.filter((h) => scope.selection.hosts.has(h) && (!subset || subset.has(h)));
    if (chosen.length === 0)
      throw new UsageError(
        `--limit ${scope.limit.source}${subset ? ` with --hosts ${o.hosts}` : ""} selects no ${pairs ? "pair" : "member"} of mesh ${mesh.name}`,
      );
    only = new Set(chosen);
    const keep = only;
    inScope = pairs ? (f) => pairs.has(`${f.a}~${f.b}`) || pairs.has(`${f.b}~${f.a}`) : (f) => keep.has(f.a) && keep.has(f.b);
    limit = { pattern: scope.limit.source, limitedOut: { hosts: names.filter((h) => !keep.has(h)) } };
  }
  const pool = new SshPool();
  const access = { ...cliAccess(o), ...(o.sshConfig ? { sshConfigFile: o.sshConfig } : {}) };
  const hosts = meshHostsFor(inv, mesh, pool, access, only);
  return { file, inventory: plan.inventory, mesh, hosts, inv, pool, ...(limit ? { limit } : {}), ...(inScope ? { inScope } : {}) };
}

/**
 * The mesh's PSK master or CA. A `pskMaster: "state:"` opens the inventory's state store (--state, --state-key or the
 * inventory's state: block) for the time it takes; deliver and up generate the master there when it has none.
 */
async function meshAuth(c: Ctx, o: MeshCliOptions, err: Out, generate: boolean): Promise<MeshAuth> {
  const src: SecretSources = { env: process.env, ...(o.secrets ? { secretsFile: o.secrets } : {}) };
  if (!usesStateMaster(c.inv, c.mesh.name) || c.mesh.auth !== "psk") return meshAuthFor(c.inv, c.mesh, src);
  const store = await openCliState(o, c.inventory, src, err, { file: c.file, state: c.inv.state });
  try {
    return await meshAuthFor(c.inv, c.mesh, src, { store, generate });
  } finally {
    await store.close();
  }
}

export async function runMesh(verb: string, file: string, o: MeshCliOptions, out: Out, err: Out): Promise<number> {
  if (verb === "down") {
    if (o.block === o.clear)
      throw new UsageError(
        "mesh down needs exactly one of --block (drop member-to-member traffic until `mesh up`) or --clear --reason TEXT (members talk unencrypted, recorded as an exception)",
      );
    if (o.clear && !o.reason?.trim())
      throw new UsageError(
        "mesh down --clear needs --reason TEXT: members will talk unencrypted, and the exception is recorded with who, when and why",
      );
  }
  const c = context(verb, file, o, out);
  if (typeof c === "number") return c;
  const verifyScoped = async () => {
    const r = await verifyMesh(c.mesh, c.hosts);
    return c.inScope ? { ...r, findings: r.findings.filter(c.inScope) } : r;
  };
  const lim = c.limit ? { limit: c.limit } : {};
  if (c.limit && !o.json)
    err.write(
      `--limit ${c.limit.pattern}: ${c.hosts.length} of ${c.mesh.members.length} members (${c.hosts.map((h) => h.name).join(", ")})\n`,
    );
  try {
    switch (verb) {
      case "deliver":
      case "up": {
        const r = await deliverMesh(c.mesh, c.hosts, await meshAuth(c, o, err, true), {
          forceEncap: o.lab === true,
          waitMs: o.blocking === false ? 0 : 30_000,
          onProgress: (l) => !o.json && err.write(`${l}\n`),
        });
        // Pairs that did not come up (e.g. after `mesh down`, where unchanged connections are not reloaded) are
        // initiated again, and only those.
        const v = o.blocking === false ? undefined : await verifyScoped();
        const broken = v?.findings.filter((f) => f.status !== "up" && f.status !== "idle") ?? [];
        const repaired = broken.length ? await repairPairs(broken, c.hosts) : [];
        const after = broken.length ? await verifyScoped() : v;
        if (verb === "up") await clearException(c.hosts);
        const up = after?.findings.filter((f) => f.status === "up" || f.status === "idle").length ?? null;
        const total = after?.findings.length ?? r.pairsExpected;
        if (o.json) out.write(json({ mesh: c.mesh.name, hosts: r.hosts, repaired, pairsUp: up, pairs: total, ...lim }));
        else {
          out.write(
            `${formatTable(
              ["host", "loaded", "unloaded", "unchanged", "error"],
              r.hosts.map((h) => [h.host, String(h.loaded.length), String(h.unloaded.length), String(h.unchanged.length), h.error ?? ""]),
            )}\n`,
          );
          out.write(
            up === null
              ? `delivered; not waiting for negotiation (--no-blocking)\n`
              : `${up}/${total} pairs up${repaired.length ? ` (${repaired.length} re-initiated)` : ""}\n`,
          );
        }
        return r.hosts.some((h) => h.error) || (up !== null && up < total) ? EXIT.problems : EXIT.ok;
      }
      case "verify": {
        const r = await verifyScoped();
        const bad = r.findings.filter((f) => f.severity === "warning" || f.severity === "critical");
        if (o.json)
          out.write(
            json({ mesh: c.mesh.name, pairs: r.findings, kernel: r.kernel, exceptions: r.exceptions, unreachable: r.errors, ...lim }),
          );
        else {
          for (const x of r.exceptions)
            out.write(
              `EXCEPTION: members ${x.hosts.join(", ")} talk unencrypted since ${x.when} (mesh down --clear by ${x.who}): ${x.reason}; ends with linkcrypt mesh up\n`,
            );
          const shown = r.findings.filter((f) => f.status !== "up");
          out.write(
            shown.length
              ? `${formatTable(
                  ["pair", "status", "severity", "detail"],
                  shown.map((f) => [`${f.a}~${f.b}`, f.status, f.severity, f.detail]),
                )}\n`
              : "",
          );
          for (const k of r.kernel)
            for (const d of k.xfrmDeltas) out.write(`${k.host}: ${d.counter} +${d.delta} since the last verify: ${d.cause}\n`);
          for (const e of r.errors) out.write(`unreachable ${e.host}: ${e.error}\n`);
          out.write(
            `${r.findings.length - bad.length}/${r.findings.length} pairs healthy${bad.length ? `; ${bad.length} need attention (linkcrypt mesh repair ${file})` : ""}\n`,
          );
        }
        return bad.length || r.errors.length ? EXIT.problems : EXIT.ok;
      }
      case "repair": {
        const v = await verifyScoped();
        const broken = v.findings.filter((f) => f.severity === "warning" || f.severity === "critical");
        const r = await repairPairs(broken, c.hosts);
        // A repaired pair's old SAs can take a moment to leave the responder (its DELETE exchange): confirm for up
        // to 10 s before calling a pair still broken.
        let after = await verifyScoped();
        for (let i = 0; i < 5 && r.length && after.findings.some((f) => f.severity === "warning" || f.severity === "critical"); i++) {
          await new Promise((t) => setTimeout(t, 2000));
          after = await verifyScoped();
        }
        const still = after.findings.filter((f) => f.severity === "warning" || f.severity === "critical");
        if (o.json) out.write(json({ repaired: r, remaining: still, ...lim }));
        else {
          out.write(
            r.length
              ? `${formatTable(
                  ["pair", "result", "detail"],
                  r.map((x) => [x.pair, x.ok ? "re-initiated" : "FAILED", x.detail]),
                )}\n`
              : "nothing to repair\n",
          );
          out.write(`${after.findings.length - still.length}/${after.findings.length} pairs healthy after repair\n`);
        }
        return still.length ? EXIT.problems : EXIT.ok;
      }
      case "down": {
        const mode = o.clear ? "clear" : "block";
        const exception = o.clear
          ? {
              mode: "clear" as const,
              mesh: c.mesh.name,
              reason: o.reason!.trim(),
              who: process.env.SUDO_USER ?? userInfo().username,
              when: new Date().toISOString(),
              hosts: c.hosts.map((h) => h.name),
            }
          : undefined;
        const r = await meshDown(c.hosts, { blocking: o.blocking !== false, mode, ...(exception ? { exception } : {}) });
        if (o.json) out.write(json({ mode, hosts: r, ...(exception ? { exception } : {}), ...lim }));
        else {
          out.write(
            `${formatTable(
              ["host", "unloaded", "mesh SAs left", "error"],
              r.map((h) => [h.host, String(h.unloaded), h.remainingSas === null ? "(not waited)" : String(h.remainingSas), h.error ?? ""]),
            )}\n`,
          );
          out.write(
            mode === "block"
              ? "mesh down --block: member-to-member traffic is DROPPED (drop policies in place) until `linkcrypt mesh up`\n"
              : `mesh down --clear: members now talk UNENCRYPTED; exception recorded (${exception!.who}, ${exception!.when}): ${exception!.reason}; ` +
                  "shown by verify, report and metrics until `linkcrypt mesh up`\n",
          );
        }
        return r.some((h) => h.error || (h.remainingSas ?? 0) > 0) ? EXIT.problems : EXIT.ok;
      }
      case "status": {
        const r = await meshStatus(c.hosts);
        if (o.json) out.write(json({ hosts: r, ...lim }));
        else
          out.write(
            `${formatTable(
              ["host", "reachable", "connections", "IKE up", "CHILD SAs", "half-open", "error"],
              r.map((h) => [
                h.host,
                h.reachable ? "yes" : "NO",
                String(h.conns),
                String(h.ikeEstablished),
                String(h.childrenInstalled),
                String(h.halfOpen),
                h.error ?? "",
              ]),
            )}\n`,
          );
        return r.some((h) => !h.reachable) ? EXIT.problems : EXIT.ok;
      }
      default:
        throw new UsageError(`unknown mesh verb "${verb}": use deliver, verify, repair, status, down or up`);
    }
  } finally {
    await c.pool.closeAll();
  }
}
