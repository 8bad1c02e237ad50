import { writeFileAtomic } from "../util/atomic-write.js";
import { InputError, UsageError } from "../errors.js";
import type { Inventory } from "../model/inventory-schema.js";
import type { Plan, MeshPlan } from "../planner/plan-types.js";
import type { StateStore } from "../state/store.js";
import { type MeshAuth, deliverMesh } from "../mesh/deliver.js";
import type { HostAccess } from "../mesh/host-access.js";
import { verifyMesh } from "../mesh/operations.js";
import { generateMasterSecret } from "./keys.js";

/**
 * `rotate mesh NAME`: under the state lock, a new PSK master for a PSK mesh, then the new pair PSKs delivered to every
 * host. Connections are unchanged, so no SA is touched; each pair's next IKE authentication uses the new key. The
 * master is kept either sealed in the state store (`pskMaster: "state:"`) or in the referenced file (mode 0600), and is stored before it is
 * delivered, so a host the delivery misses gets it with the next mesh deliver. No journal entry holds the value.
 */
export interface RotateMeshRequest {
  name: string;
  plan: Plan;
  inv: Inventory;
  store: StateStore;
  run: string;
  /** Where the master is kept in the state store (for "state:"). */
  secretName: string;
  /** The mesh's hosts (made by the caller, who owns their connections). */
  hosts: (mesh: MeshPlan) => HostAccess[];
  /** The mesh's auth once the new master is in place. */
  auth: (mesh: MeshPlan) => MeshAuth | Promise<MeshAuth>;
  lab: boolean;
  now?: () => number;
}

export interface RotateMeshOutcome {
  mesh: string;
  hosts: number;
  pairs: number;
  up: number;
  reloadedConnections: number;
}

export async function rotateMeshMaster(r: RotateMeshRequest): Promise<RotateMeshOutcome> {
  const now = r.now ?? Date.now;
  const mesh = r.plan.meshes.find((m) => m.name === r.name);
  if (!mesh) throw new UsageError(`no mesh "${r.name}"`);
  const ref = r.inv.meshes.find((m) => m.name === r.name)?.pskMaster;
  if (mesh.auth !== "psk" || !(ref === "state:" || ref?.startsWith("file:")))
    throw new InputError(
      `rotate mesh needs a PSK mesh whose pskMaster is "state:" (kept sealed in the state store) or a file: reference (linkcrypt writes the new master there, mode 0600)`,
    );
  await r.store.lock(`rotate mesh ${r.name}`);
  const hosts = r.hosts(mesh);
  const at = () => new Date(now()).toISOString();
  if (ref === "state:") {
    // Stored (sealed) before it is delivered. A wrong or missing state key stops here, before any host is touched.
    await r.store.putSecrets(
      { [r.secretName]: generateMasterSecret() },
      {
        at: at(),
        run: r.run,
        step: "rotate psk-master",
        target: r.name,
        state: "done",
        detail: `sealed in the state store as ${r.secretName}`,
      },
    );
  } else {
    const file = ref!.slice(5);
    writeFileAtomic(file, `${generateMasterSecret()}\n`, { mode: 0o600 });
    await r.store.append({ at: at(), run: r.run, step: "rotate psk-master", target: r.name, state: "done" });
  }
  // New PSKs replace the old ones (load-shared); connections are unchanged, so no SA is touched.
  const d = await deliverMesh(mesh, hosts, await r.auth(mesh), { forceEncap: r.lab, waitMs: 5000 });
  const v = await verifyMesh(mesh, hosts);
  return {
    mesh: r.name,
    hosts: d.hosts.length,
    pairs: v.findings.length,
    up: v.findings.filter((f) => f.status === "up" || f.status === "idle").length,
    reloadedConnections: d.hosts.reduce((a, h) => a + h.loaded.length, 0),
  };
}
