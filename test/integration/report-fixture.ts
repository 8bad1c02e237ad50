import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { espPairs } from "../../src/mesh/operations.js";
import type { Plan } from "../../src/planner/plan-types.js";
import type { VerifyEntry, VerifyReport } from "../../src/verify/verify.js";
import { cli } from "../cli-run.js";

/**
 * A verify file for examples/three-site-mixed.yaml as `linkcrypt verify --out` would write it on a healthy network:
 * the L1 wave secured with key age and key generation from both encryptors, every ESP pair up with SPIs, traffic and
 * the negotiated cipher. `tweak` edits it before it is written (another inventory, an old date, a pair down).
 */
export async function threeSiteVerify(
  dir: string,
  tweak: (v: VerifyReport) => void = () => undefined,
): Promise<{ file: string; plan: Plan }> {
  const r = await cli("plan", "examples/three-site-mixed.yaml", "--json");
  const plan = JSON.parse(r.out) as Plan;
  const at = new Date(Date.now() - 5 * 60_000).toISOString();
  const entries: VerifyEntry[] = [];
  for (const l of plan.links) {
    if (l.method === "l1")
      entries.push({
        kind: "link",
        name: l.name,
        method: "l1",
        status: "secured",
        keyAgeSeconds: 5400,
        observedAt: at,
        evidence: l.l1!.encryptors.map((e) => `${e} line: secured ${l.l1!.cipher}, key age 5400 s (encryptor status secure)`),
        ends: l.l1!.encryptors.map((e, i) => ({
          device: e,
          port: "line",
          status: "secured" as const,
          cipher: l.l1!.cipher,
          keyAgeSeconds: 5400,
          keyNumber: "42",
          detail: "encryptor status secure",
          observedAt: at,
          counters: { keyGeneration: 42, framesEncrypted: String(1000 + i) },
        })),
      });
    else
      entries.push({
        kind: "link",
        name: l.name,
        method: l.method,
        status: "unknown",
        evidence: [`protected only for mesh ${l.mesh} members: see that mesh's pairs`],
        observedAt: at,
      });
  }
  for (const m of plan.meshes)
    espPairs(m).forEach(([a, b], i) => {
      const spis = { aIn: `c${String(i).padStart(7, "0")}`, aOut: `d${String(i).padStart(7, "0")}` };
      entries.push({
        kind: "pair",
        name: `${m.name}:${a}~${b}`,
        method: "host-mesh",
        status: "secured",
        observedAt: at,
        evidence: [`up: SPIs ${spis.aIn}/${spis.aOut} symmetric and INSTALLED`],
        sa: {
          host: a,
          spis,
          lastTrafficSeconds: 2 + i,
          bytes: { in: 1000 * i, out: 900 * i },
          cipher: "AES_GCM_16-256",
          userspaceEsp: false,
        },
      });
    });
  const v: VerifyReport = {
    format: "linkcrypt-verify",
    version: 1,
    inventory: plan.inventory,
    generator: plan.generator,
    startedAt: at,
    plan: plan.inputs,
    observedAt: at,
    entries,
    hosts: [],
  };
  tweak(v);
  const file = join(dir, "verify.json");
  writeFileSync(file, JSON.stringify(v, null, 2));
  return { file, plan };
}
