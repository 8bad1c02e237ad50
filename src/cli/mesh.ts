import { sshFor, type AccessOptions } from "../discover/device-access.js";
import { InputError, UsageError } from "../errors.js";
import { hasErrors } from "../model/diagnostics.js";
import type { Inventory } from "../model/inventory-schema.js";
import { deliverMesh, type MeshAuth } from "../mesh/deliver.js";
import { localHost, sshHost, type HostAccess } from "../mesh/host-access.js";
import { MIN_MASTER_BYTES } from "../mesh/psk.js";
import { clearException, meshDown, meshStatus, repairPairs, verifyMesh } from "../mesh/operations.js";
import { userInfo } from "node:os";
import type { MeshPlan } from "../planner/plan-types.js";
import { resolveSecret, type SecretSources } from "../secrets.js";
import { SshPool } from "../transport/ssh.js";
import { cliAccess, loadAll, planFromLoaded } from "./load.js";
import { EXIT, formatDiagnostics, invalidInventory, formatTable, json, type Out } from "./output.js";

export interface MeshCliOptions {
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
}

interface Ctx {
  mesh: MeshPlan;
  hosts: HostAccess[];
  inv: Inventory;
  pool: SshPool;
}

function context(file: string, o: MeshCliOptions, out: Out): Ctx | number {
  const l = loadAll(file, o.profiles);
  const plan = planFromLoaded(l);
  if (!plan || !l.data || hasErrors(plan.diagnostics)) {
    out.write(invalidInventory(file, plan?.diagnostics ?? l.diagnostics, o.json, `the plan has errors; fix them first (linkcrypt plan ${file})`));
    return EXIT.problems;
  }
  const inv = l.data as Inventory;
  const mesh = o.mesh ? plan.meshes.find((m) => m.name === o.mesh) : plan.meshes.length === 1 ? plan.meshes[0] : undefined;
  if (!mesh) throw new UsageError(o.mesh ? `no mesh "${o.mesh}" in ${file}` : `${file} has ${plan.meshes.length} meshes: choose one with --mesh`);
  const subset = o.hosts ? new Set(o.hosts.split(",").map((h) => h.trim()).filter(Boolean)) : undefined;
  for (const h of subset ?? []) if (!mesh.members.some((m) => m.name === h)) throw new UsageError(`host "${h}" is not a member of mesh ${mesh.name}`);
  const pool = new SshPool();
  const access = cliAccess(o);
  const hosts = meshHostsFor(inv, mesh, pool, access, subset);
  return { mesh, hosts, inv, pool };
}

function meshAuth(c: Ctx, o: MeshCliOptions): MeshAuth {
  return meshAuthFor(c.inv, c.mesh, { env: process.env, ...(o.secrets ? { secretsFile: o.secrets } : {}) });
}

/** PSK master or CA for a mesh, from the inventory's references. */
export function meshAuthFor(inv: Inventory, mesh: MeshPlan, src: SecretSources): MeshAuth {
  const m = inv.meshes.find((x) => x.name === mesh.name);
  if (mesh.auth === "cert") {
    if (!m?.ca) throw new InputError(`mesh ${mesh.name} uses certificates but names no ca`);
    return { kind: "cert", ca: { certPem: resolveSecret(m.ca.cert, src, mesh.name), keyPem: resolveSecret(m.ca.key, src, mesh.name) } };
  }
  if (!m?.pskMaster) throw new InputError(`mesh ${mesh.name} has no pskMaster: set it to a reference to at least 32 random bytes (e.g. "file:/etc/linkcrypt/mesh.key")`);
  const master = Buffer.from(resolveSecret(m.pskMaster, src, mesh.name));
  if (master.length < MIN_MASTER_BYTES)
    throw new InputError(`mesh ${mesh.name}: the pskMaster secret (${m.pskMaster}) is ${master.length} bytes; it must be at least ${MIN_MASTER_BYTES} random bytes (e.g. head -c 32 /dev/urandom | xxd -p -c 64)`);
  return { kind: "psk", master };
}

/** How to reach each member of a mesh: its VICI socket locally (lab) or over SSH. */
export function meshHostsFor(inv: Inventory, mesh: MeshPlan, pool: SshPool, access: AccessOptions, subset?: ReadonlySet<string>): HostAccess[] {
  const hosts: HostAccess[] = [];
  for (const m of mesh.members) {
    if (subset && !subset.has(m.name)) continue;
    const d = inv.devices.find((x) => x.name === m.name);
    if (!d || d.kind !== "host") continue;
    const socket = d.vici?.socket ?? "/var/run/charon.vici";
    const confDir = d.vici?.confDir ?? "/etc/swanctl/conf.d";
    // This machine only when the inventory says so: a host without a management block is never taken for it.
    if (!d.management)
      throw new InputError(`mesh ${mesh.name}: host ${d.name} has no management block; give its address (management: {address: ..., transport: ssh}), or management: {transport: local} if it is this machine`);
    if (d.management.transport === "local") hosts.push(localHost(d.name, socket, confDir));
    else hosts.push(sshHost(d.name, sshFor(d, pool, access), socket, confDir));
  }
  return hosts;
}

export async function runMesh(verb: string, file: string, o: MeshCliOptions, out: Out, err: Out): Promise<number> {
  if (verb === "down") {
    if (o.block === o.clear) throw new UsageError("mesh down needs exactly one of --block (drop member-to-member traffic until `mesh up`) or --clear --reason TEXT (members talk unencrypted, recorded as an exception)");
    if (o.clear && !o.reason?.trim()) throw new UsageError("mesh down --clear needs --reason TEXT: members will talk unencrypted, and the exception is recorded with who, when and why");
  }
  const c = context(file, o, out);
  if (typeof c === "number") return c;
  try {
    switch (verb) {
      case "deliver":
      case "up": {
        const r = await deliverMesh(c.mesh, c.hosts, meshAuth(c, o), {
          forceEncap: o.lab === true,
          waitMs: o.blocking === false ? 0 : 30_000,
          onProgress: (l) => !o.json && err.write(`${l}\n`),
        });
        // Pairs that did not come up (e.g. after `mesh down`, where unchanged connections are not reloaded) are
        // initiated again, and only those.
        const v = o.blocking === false ? undefined : await verifyMesh(c.mesh, c.hosts);
        const broken = v?.findings.filter((f) => f.status !== "up" && f.status !== "idle") ?? [];
        const repaired = broken.length ? await repairPairs(broken, c.hosts) : [];
        const after = broken.length ? await verifyMesh(c.mesh, c.hosts) : v;
        if (verb === "up") await clearException(c.hosts);
        const up = after?.findings.filter((f) => f.status === "up" || f.status === "idle").length ?? null;
        const total = after?.findings.length ?? r.pairsExpected;
        if (o.json) out.write(json({ mesh: c.mesh.name, hosts: r.hosts, repaired, pairsUp: up, pairs: total }));
        else {
          out.write(`${formatTable(["host", "loaded", "unloaded", "unchanged", "error"], r.hosts.map((h) => [h.host, String(h.loaded.length), String(h.unloaded.length), String(h.unchanged.length), h.error ?? ""]))}\n`);
          out.write(up === null ? `delivered; not waiting for negotiation (--no-blocking)\n` : `${up}/${total} pairs up${repaired.length ? ` (${repaired.length} re-initiated)` : ""}\n`);
        }
        return r.hosts.some((h) => h.error) || (up !== null && up < total) ? EXIT.problems : EXIT.ok;
      }
      case "verify": {
        const r = await verifyMesh(c.mesh, c.hosts);
        const bad = r.findings.filter((f) => f.severity === "warning" || f.severity === "critical");
        if (o.json) out.write(json({ mesh: c.mesh.name, pairs: r.findings, kernel: r.kernel, exceptions: r.exceptions, unreachable: r.errors }));
        else {
          for (const x of r.exceptions) out.write(`EXCEPTION: members ${x.hosts.join(", ")} talk unencrypted since ${x.when} (mesh down --clear by ${x.who}): ${x.reason}; ends with linkcrypt mesh up\n`);
          const shown = r.findings.filter((f) => f.status !== "up");
          out.write(shown.length ? `${formatTable(["pair", "status", "severity", "detail"], shown.map((f) => [`${f.a}~${f.b}`, f.status, f.severity, f.detail]))}\n` : "");
          for (const k of r.kernel) for (const d of k.xfrmDeltas) out.write(`${k.host}: ${d.counter} +${d.delta} since the last verify: ${d.cause}\n`);
          for (const e of r.errors) out.write(`unreachable ${e.host}: ${e.error}\n`);
          out.write(`${r.findings.length - bad.length}/${r.findings.length} pairs healthy${bad.length ? `; ${bad.length} need attention (linkcrypt mesh repair ${file})` : ""}\n`);
        }
        return bad.length || r.errors.length ? EXIT.problems : EXIT.ok;
      }
      case "repair": {
        const v = await verifyMesh(c.mesh, c.hosts);
        const broken = v.findings.filter((f) => f.severity === "warning" || f.severity === "critical");
        const r = await repairPairs(broken, c.hosts);
        // A repaired pair's old SAs can take a moment to leave the responder (its DELETE exchange): confirm for up
        // to 10 s before calling a pair still broken.
        let after = await verifyMesh(c.mesh, c.hosts);
        for (let i = 0; i < 5 && r.length && after.findings.some((f) => f.severity === "warning" || f.severity === "critical"); i++) {
          await new Promise((t) => setTimeout(t, 2000));
          after = await verifyMesh(c.mesh, c.hosts);
        }
        const still = after.findings.filter((f) => f.severity === "warning" || f.severity === "critical");
        if (o.json) out.write(json({ repaired: r, remaining: still }));
        else {
          out.write(r.length ? `${formatTable(["pair", "result", "detail"], r.map((x) => [x.pair, x.ok ? "re-initiated" : "FAILED", x.detail]))}\n` : "nothing to repair\n");
          out.write(`${after.findings.length - still.length}/${after.findings.length} pairs healthy after repair\n`);
        }
        return still.length ? EXIT.problems : EXIT.ok;
      }
      case "down": {
        const mode = o.clear ? "clear" : "block";
        const exception = o.clear
          ? { mode: "clear" as const, mesh: c.mesh.name, reason: o.reason!.trim(), who: process.env.SUDO_USER ?? userInfo().username, when: new Date().toISOString(), hosts: c.hosts.map((h) => h.name) }
          : undefined;
        const r = await meshDown(c.hosts, { blocking: o.blocking !== false, mode, ...(exception ? { exception } : {}) });
        if (o.json) out.write(json({ mode, hosts: r, ...(exception ? { exception } : {}) }));
        else {
          out.write(`${formatTable(["host", "unloaded", "mesh SAs left", "error"], r.map((h) => [h.host, String(h.unloaded), h.remainingSas === null ? "(not waited)" : String(h.remainingSas), h.error ?? ""]))}\n`);
          out.write(mode === "block"
            ? "mesh down --block: member-to-member traffic is DROPPED (drop policies in place) until `linkcrypt mesh up`\n"
            : `mesh down --clear: members now talk UNENCRYPTED; exception recorded (${exception!.who}, ${exception!.when}): ${exception!.reason}; shown by verify, report and metrics until \`linkcrypt mesh up\`\n`);
        }
        return r.some((h) => h.error || (h.remainingSas ?? 0) > 0) ? EXIT.problems : EXIT.ok;
      }
      case "status": {
        const r = await meshStatus(c.hosts);
        if (o.json) out.write(json({ hosts: r }));
        else out.write(`${formatTable(["host", "reachable", "connections", "IKE up", "CHILD SAs", "half-open", "error"], r.map((h) => [h.host, h.reachable ? "yes" : "NO", String(h.conns), String(h.ikeEstablished), String(h.childrenInstalled), String(h.halfOpen), h.error ?? ""]))}\n`);
        return r.some((h) => !h.reachable) ? EXIT.problems : EXIT.ok;
      }
      default:
        throw new UsageError(`unknown mesh verb "${verb}": use deliver, verify, repair, status, down or up`);
    }
  } finally {
    await c.pool.closeAll();
  }
}
