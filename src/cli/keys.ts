import { randomUUID } from "node:crypto";
import { renameSync, statSync, writeFileSync } from "node:fs";
import { RotateInterrupted, rotateMacsecLink } from "../apply/rotate.js";
import { EXIT_INTERRUPTED, openCliState, withInterrupts } from "../state/cli.js";
import { InputError, UsageError } from "../errors.js";
import type { Inventory } from "../model/inventory-schema.js";
import { generateMasterSecret } from "../keys/keys.js";
import { deliverMesh } from "../mesh/deliver.js";
import { verifyMesh } from "../mesh/operations.js";
import { SshPool } from "../transport/ssh.js";
import { cliAccess, loadAll, planFromLoaded } from "./load.js";
import { meshAuthFor, meshHostsFor, pskMasterSecretName } from "./mesh.js";
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

/** `linkcrypt rotate link NAME` (MACsec, make-before-break) or `rotate mesh NAME` (new PSK master; SAs stay up). */
export async function runRotate(what: string, name: string, o: KeysCliOptions, out: Out, err: Out): Promise<number> {
  const s = await setup(o, err);
  const run = randomUUID();
  try {
    await s.store.lock(`rotate ${what} ${name}`);
    if (what === "link") {
      await s.store.checkKey();
      let done = "";
      const { value: r, interrupted } = await withInterrupts(s.store, err, (signal) =>
        rotateMacsecLink(s.plan, name, s.inv, s.profiles, {
          access: s.access,
          store: s.store,
          confirmTimeoutS: Number(o.confirmTimeout ?? 120),
          signal,
          ...(process.env.LINKCRYPT_TEST_PAUSE_AFTER_COMMIT_MS
            ? { pauseAfterCommitMs: Number(process.env.LINKCRYPT_TEST_PAUSE_AFTER_COMMIT_MS) }
            : {}),
          journal: async (step, state, detail) => {
            await s.store.append({
              at: new Date().toISOString(),
              run,
              step: `rotate ${step}`,
              target: name,
              state,
              ...(detail ? { detail } : {}),
            });
            if (state === "done") done = step;
            if (!o.json) err.write(`${name}: ${step} ${state}\n`);
          },
        }).catch((e: unknown) => {
          if (e instanceof RotateInterrupted) return e;
          throw e;
        }),
      );
      if (r instanceof RotateInterrupted || interrupted) {
        // Make-before-break: after the first step both keys work on both ends; the next rotate resumes from the stored next key.
        const state =
          done === "install-next-key"
            ? "old and new key installed on both ends; run rotate again to retire the old one"
            : done === "retire-old-key"
              ? "rotated: only the new key on both ends"
              : "unchanged: the old key on both ends";
        out.write(o.json ? json({ link: name, interrupted: true, state }) : `${name}: interrupted; ${state}\n`);
        return EXIT_INTERRUPTED;
      }
      // CKNs are key names, not secrets: show only a prefix so operators can match them on the devices.
      const shown = { oldCkn: `${r.oldCkn.slice(0, 8)}...`, newCkn: `${r.newCkn.slice(0, 8)}...` };
      out.write(
        o.json
          ? json({ link: name, ...shown })
          : `${name}: rotated from CKN ${shown.oldCkn} to ${shown.newCkn}, make-before-break on both ends\n`,
      );
      return EXIT.changes;
    }
    if (what === "mesh") {
      const mesh = s.plan.meshes.find((m) => m.name === name);
      if (!mesh) throw new UsageError(`no mesh "${name}"`);
      const ref = s.inv.meshes.find((m) => m.name === name)?.pskMaster;
      if (mesh.auth !== "psk" || !(ref === "state:" || ref?.startsWith("file:")))
        throw new InputError(
          `rotate mesh needs a PSK mesh whose pskMaster is "state:" (kept sealed in the state store) or a file: reference (linkcrypt writes the new master there, mode 0600)`,
        );
      const pool = new SshPool();
      const hosts = meshHostsFor(s.inv, mesh, pool, s.access);
      let r: Awaited<ReturnType<typeof deliverMesh>>;
      try {
        if (ref === "state:") {
          // Stored (sealed) before it is delivered, as a file: master is written first: a host the delivery misses
          // gets it with the next mesh deliver. A wrong or missing state key stops here, before any host is touched.
          // The journal entry never holds the value.
          const next = generateMasterSecret();
          await s.store.putSecrets(
            { [pskMasterSecretName(name)]: next },
            {
              at: new Date().toISOString(),
              run,
              step: "rotate psk-master",
              target: name,
              state: "done",
              detail: `sealed in the state store as ${pskMasterSecretName(name)}`,
            },
          );
          r = await deliverMesh(mesh, hosts, await meshAuthFor(s.inv, mesh, s.access.secrets, { store: s.store }), {
            forceEncap: o.lab === true,
            waitMs: 5000,
          });
        } else {
          const file = ref!.slice(5);
          const tmp = `${file}.tmp-${process.pid}`;
          writeFileSync(tmp, `${generateMasterSecret()}\n`, { mode: 0o600 });
          renameSync(tmp, file);
          s.store.append({ at: new Date().toISOString(), run, step: "rotate psk-master", target: name, state: "done" });
          // New PSKs replace the old ones (load-shared); connections are unchanged, so no SA is touched. The next IKE
          // authentication of each pair uses the new key.
          r = await deliverMesh(mesh, hosts, meshAuthFor(s.inv, mesh, s.access.secrets), { forceEncap: o.lab === true, waitMs: 5000 });
        }
      } catch (e) {
        await pool.closeAll();
        throw e;
      }
      const v = await verifyMesh(mesh, hosts);
      await pool.closeAll();
      const up = v.findings.filter((f) => f.status === "up" || f.status === "idle").length;
      out.write(
        o.json
          ? json({ mesh: name, pairs: v.findings.length, up, reloadedConnections: r.hosts.reduce((a, h) => a + h.loaded.length, 0) })
          : `${name}: new PSKs loaded on ${r.hosts.length} hosts; ${up}/${v.findings.length} pairs up, connections reloaded: ${r.hosts.reduce((a, h) => a + h.loaded.length, 0)}\n`,
      );
      return up === v.findings.length ? EXIT.changes : EXIT.problems;
    }
    throw new UsageError(`rotate takes "link NAME" or "mesh NAME"`);
  } finally {
    await s.store.close();
  }
}

/** `linkcrypt keys status`: every key linkcrypt manages, its age against the policy's maximum. */
export async function runKeysStatus(o: KeysCliOptions, out: Out, err: Out): Promise<number> {
  const s = await setup(o, err);
  try {
    return await keysStatus(s, o, out);
  } finally {
    await s.store.close();
  }
}

async function keysStatus(s: Awaited<ReturnType<typeof setup>>, o: KeysCliOptions, out: Out): Promise<number> {
  const now = Date.now();
  const rows: { key: string; kind: string; ageDays: number | null; maxDays: number; stale: boolean }[] = [];
  for (const l of s.plan.links.filter((x) => x.method === "macsec")) {
    const max = s.profiles.policies.get(l.policy)!.lifetimes.maxKeyAgeDays;
    // The creation time is kept in clear beside the sealed key: key ages need no state key.
    const created = await s.store.secretCreatedAt(`macsec/${l.name}`);
    const age = created ? (now - Date.parse(created)) / 86_400_000 : null;
    rows.push({ key: `MKA CAK ${l.name}`, kind: "macsec", ageDays: age, maxDays: max, stale: age !== null && age > max });
  }
  for (const m of s.inv.meshes) {
    const max = s.profiles.policies.get(s.plan.policy)!.lifetimes.maxKeyAgeDays;
    let age: number | null = null;
    if (m.pskMaster === "state:") {
      // Kept in clear beside the sealed master, like the MACsec keys' times: no state key needed.
      const created = await s.store.secretCreatedAt(pskMasterSecretName(m.name));
      age = created ? (now - Date.parse(created)) / 86_400_000 : null;
    } else if (m.pskMaster?.startsWith("file:")) {
      try {
        age = (now - statSync(m.pskMaster.slice(5)).mtimeMs) / 86_400_000;
      } catch {
        age = null;
      }
    }
    if (m.auth === "psk")
      rows.push({ key: `PSK master ${m.name}`, kind: "mesh", ageDays: age, maxDays: max, stale: age !== null && age > max });
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
