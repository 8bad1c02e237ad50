import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labDown, labUp, type LabState } from "../../src/lab/lab.js";
import { meshConnSpecs, meshShuntSpecs } from "../../src/planner/conn-spec.js";
import { derivePairPsk } from "../../src/mesh/psk.js";
import { renderSwanctlConf, renderSwanctlSecrets } from "../../src/render/swanctl.js";
import { buildPlan } from "../../src/planner/build-plan.js";
import { load, plan } from "../helpers.js";

/**
 * Every host's rendered swanctl.conf for the bundled examples (transport mode, IPv4+IPv6 children, packet and crypto
 * hw_offload) is checked byte for byte against golden files. The rendering for the installed charon's version is
 * loaded into that real charon, which must parse every connection. Loading does not negotiate, so transport mode and
 * offload settings are checked even though the lab kernel has no ESP. (Debian bookworm ships strongSwan 5.9.8, which
 * knows hw_offload = yes|no|auto: the crypto/packet spellings are covered by the goldens, not by a newer charon.)
 */
const examples = ["two-site-dwdm", "three-site-mixed", "mesh-lab"];
const master = Buffer.alloc(32, 7); // a test master secret: only its derivations appear, and only in temp files
const dir = join(mkdtempSync(join(tmpdir(), "lc-swanctl-")), "lab");
let lab: LabState;
beforeAll(async () => {
  lab = await labUp({ name: "parse", dir, hostNames: ["charon"], index: 2 });
}, 30_000);
afterAll(async () => labDown(dir));

describe("render: swanctl.conf", () => {
  for (const ex of examples) {
    const p = plan(readFileSync(`examples/${ex}.yaml`, "utf8"));
    const mesh = p.meshes[0]!;
    for (const m of mesh.members) {
      it(`${ex}: ${m.name} matches its golden file and loads into charon`, () => {
        const specs = meshConnSpecs(mesh, m.name);
        const conf = renderSwanctlConf(m.name, specs, meshShuntSpecs(specs));
        const golden = `test/golden/swanctl/${ex}--${m.name}.conf`;
        if (process.env.UPDATE_GOLDEN) writeFileSync(golden, conf);
        expect(existsSync(golden), `${golden} missing: UPDATE_GOLDEN=1`).toBe(true);
        expect(conf).toBe(readFileSync(golden, "utf8"));
        // What charon parses is the rendering for its own version: plan with the version as facts would give it.
        const version = execFileSync("/usr/lib/ipsec/charon", ["--version"])
          .toString()
          .match(/(\d+\.\d+\.\d+)/)![1]!;
        const r = load(readFileSync(`examples/${ex}.yaml`, "utf8"));
        for (const h of r.model!.hosts.values()) (h as { strongswanVersion: string | undefined }).strongswanVersion = version;
        const vmesh = buildPlan(r.model!, { inventoryDigest: "t", profilesDigest: "t" }).meshes[0]!;
        const vspecs = meshConnSpecs(vmesh, m.name, { strongswanVersion: version });
        const secrets = renderSwanctlSecrets(
          vspecs.map((s) => ({
            name: `${s.localId}-${s.remoteId}`,
            ids: [s.localId, s.remoteId],
            secret: derivePairPsk(master, s.localId, s.remoteId),
          })),
        );
        const h = lab.hosts[0]!;
        const f = join(h.dir, "swanctl", "swanctl.conf");
        writeFileSync(f, `${renderSwanctlConf(m.name, vspecs, meshShuntSpecs(vspecs))}\n${secrets}`);
        const out = execFileSync("swanctl", ["--load-all", "--clear", "--file", f, "--uri", `unix://${h.viciSocket}`], {
          env: { ...process.env, STRONGSWAN_CONF: join(h.dir, "strongswan.conf"), SWANCTL_DIR: join(h.dir, "swanctl") },
          stdio: ["ignore", "pipe", "ignore"],
        }).toString();
        // Every ESP connection and its pair's drop shunt load.
        expect(out).toMatch(new RegExp(`successfully loaded ${vspecs.length * 2} connections, \\d+ unloaded`));
        expect(out).not.toMatch(/failed|error/i);
      });
    }
  }
});
