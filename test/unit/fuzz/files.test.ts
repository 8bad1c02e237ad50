import fc from "fast-check";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { gatePlan } from "../../../src/apply/plan-gate.js";
import { checkPlanShape } from "../../../src/apply/plan-shape.js";
import { loadAll, planFromLoaded, withFacts } from "../../../src/cli/load.js";
import { InputError } from "../../../src/errors.js";
import { parseFactsFile } from "../../../src/model/facts.js";
import type { Plan } from "../../../src/planner/plan-types.js";
import { readVerifyFile } from "../../../src/report/provenance.js";
import { checkHostKey } from "../../../src/transport/known-hosts.js";
import { cli } from "../../cli-run.js";
import { fuzz, fuzzAsync, nastyString, returnsOrTyped } from "./fuzz.js";

const dir = mkdtempSync(join(tmpdir(), "lc-files-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

/** `base` with one value somewhere inside replaced by `value` (or removed), following `path` modulo each level's size. */
function mutate(base: unknown, path: number[], value: unknown, remove: boolean): unknown {
  const copy = structuredClone(base) as unknown;
  let node = copy as Record<string, unknown> | unknown[];
  for (let i = 0; i < path.length; i++) {
    const keys = Array.isArray(node) ? node.map((_, j) => j) : Object.keys(node);
    if (keys.length === 0) break;
    const k = keys[path[i]! % keys.length]!;
    const child = (node as Record<string | number, unknown>)[k];
    if (i === path.length - 1 || child === null || typeof child !== "object") {
      if (remove && !Array.isArray(node)) delete (node as Record<string, unknown>)[k as string];
      else (node as Record<string | number, unknown>)[k] = value;
      return copy;
    }
    node = child as Record<string, unknown> | unknown[];
  }
  return value;
}
const mutation = (base: unknown) =>
  fc
    .tuple(
      fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
      fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(null, "toString", "__proto__", -1, 1e308, "")),
      fc.boolean(),
    )
    .map(([p, v, r]) => mutate(base, p, v, r));

const lab = loadAll("examples/mesh-lab.yaml", []);
const labPlan = planFromLoaded(lab)!;

describe("fuzz findings: plan, facts and verify files", () => {
  it("F-1: a plan that is null, or lacks summary or inputs, is an InputError naming what is wrong", () => {
    const good = JSON.parse(JSON.stringify(labPlan)) as Record<string, unknown>;
    const cases: [unknown, RegExp][] = [
      [null, /not a linkcrypt plan \(not a JSON object\)/],
      [{ ...good, summary: undefined }, /not a well-formed linkcrypt plan: summary: /],
      [{ ...good, inputs: undefined }, /not a well-formed linkcrypt plan: inputs: /],
      [{ ...good, links: [1, "x"] }, /links\.0: .*links\.1: /],
      [
        { ...good, links: [{ ...(labPlan.links[0] ?? { name: "x" }), zz: JSON.parse(`${"[".repeat(5000)}${"]".repeat(5000)}`) }] },
        /nested deeper than 64 levels \(the limit\)/,
      ],
    ];
    for (const [plan, msg] of cases) expect(() => checkPlanShape(plan, "p.json")).toThrowError(msg);
    expect(checkPlanShape(good, "p.json")).toBe(good);
  });

  it("F-1 through the CLI: apply on such plans exits 1 with the reason, never 70", async () => {
    for (const [name, text] of [
      ["null.json", "null"],
      ["nosum.json", JSON.stringify({ ...labPlan, summary: undefined })],
      [
        "deep.json",
        JSON.stringify({ ...labPlan, links: [{ name: "x", zz: "DEEP" }] }).replace('"DEEP"', `${"[".repeat(20000)}${"]".repeat(20000)}`),
      ],
    ] as const) {
      const r = await cli("apply", write(name, text), "--inventory", "examples/mesh-lab.yaml", "--dry-run");
      expect(r.code, name).toBe(1);
      expect(r.err).not.toMatch(/internal error/);
    }
  });

  it("F-2: wrong shapes of cpuFlags, nics, kernelAlgorithms, or reachable:false without error, are diagnostics with paths", () => {
    const host = {
      device: "app1",
      driver: "linux-host",
      reachable: true,
      observedAt: "2026-01-01T00:00:00Z",
      host: {
        kernel: "6.1",
        cpuFlags: ["aes"],
        kernelAlgorithms: { "gcm(aes)": ["x"] },
        nics: [{ name: "eth0", driver: "mlx5_core", espHwOffload: "on", espTxCsumHwOffload: "on" }],
      },
    };
    const file = (dev: unknown) => JSON.stringify({ format: "linkcrypt-facts", version: 1, inventory: "mesh4", devices: { app1: dev } });
    expect(parseFactsFile(file(host), "f.json").facts).toBeDefined();
    for (const [dev, path] of [
      [{ ...host, host: { ...host.host, cpuFlags: "aes" } }, "(facts) devices.app1.host.cpuFlags"],
      [{ ...host, host: { ...host.host, nics: [{ name: "eth0" }] } }, "(facts) devices.app1.host.nics.0.espHwOffload"],
      [{ ...host, host: { ...host.host, nics: null } }, "(facts) devices.app1.host.nics"],
      [{ ...host, host: { ...host.host, kernelAlgorithms: ["gcm(aes)"] } }, "(facts) devices.app1.host.kernelAlgorithms"],
      [{ reachable: false }, "(facts) devices.app1.error"],
    ] as const) {
      const r = parseFactsFile(file(dev), "f.json");
      expect(r.facts).toBeUndefined();
      expect(r.diagnostics.map((d) => d.path)).toContain(path);
    }
  });

  it("F-3: hosts named toString, constructor, valueOf or hasOwnProperty plan with --facts", async () => {
    const inv = write(
      "f3.yaml",
      readExample("examples/mesh-lab.yaml")
        .replace("name: app1,", "name: toString,")
        .replace("name: app2,", "name: constructor,")
        .replace("name: db1,", "name: valueOf,")
        .replace("name: db2,", "name: hasOwnProperty,"),
    );
    const facts = write("f3.json", JSON.stringify({ format: "linkcrypt-facts", version: 1, inventory: "mesh4", devices: {} }));
    const r = await cli("plan", inv, "--facts", facts);
    expect(r.err).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const e = await cli("explain", inv, "toString", "constructor");
    expect(e.code).toBe(0);
  });
});

function readExample(p: string): string {
  return readFileSync(p, "utf8");
}

describe("fuzz: plan, facts, verify and known_hosts files", () => {
  it("plan file: any mutation of a real plan is accepted (unchanged) or refused with an InputError", () => {
    const good = JSON.parse(JSON.stringify(labPlan)) as unknown;
    fuzz("plan-file", fc.oneof(mutation(good), fc.jsonValue({ maxDepth: 4 })), (saved) => {
      const r = returnsOrTyped(() =>
        gatePlan({ saved: checkPlanShape(saved, "p.json"), fresh: labPlan, planFile: "p.json", inventoryFile: "i.yaml" }),
      );
      if (r instanceof Error) expect(r).toBeInstanceOf(InputError);
      else expect((r as Plan).inventory).toBe(labPlan.inventory);
    });
  });

  it("facts file: any mutation parses to diagnostics or facts that apply without a throw", () => {
    const base = {
      format: "linkcrypt-facts",
      version: 1,
      inventory: "mesh4",
      devices: {
        app1: {
          device: "app1",
          driver: "linux-host",
          reachable: true,
          observedAt: "2026-01-01T00:00:00Z",
          host: {
            kernel: "6.1",
            cpuFlags: ["aes", "vaes"],
            kernelAlgorithms: { "rfc4106(gcm(aes))": ["x"], toString: ["y"] },
            nics: [{ name: "eth0", driver: "mlx5_core", espHwOffload: "on", espTxCsumHwOffload: "on" }],
            strongswanVersion: "5.9.8",
            xfrmStat: { XfrmInNoStates: 0 },
          },
        },
        db1: { reachable: false, error: { code: "E_CONNECT", message: "no" } },
        toString: {
          device: "x",
          driver: "eos-macsec",
          reachable: true,
          observedAt: "t",
          system: { description: "DCS" },
          netconf: { capabilities: [], candidate: true, confirmedCommit: true },
          macsecInterfaces: ["Et1"],
        },
      },
    };
    fuzz(
      "facts-file",
      fc.oneof(
        mutation(base).map((v) => JSON.stringify(v)),
        nastyString(60),
      ),
      (text) => {
        const r = returnsOrTyped(() => parseFactsFile(text, "f.json"));
        if (r instanceof Error || !r.facts) return;
        const applied = returnsOrTyped(() => withFacts(lab, r.facts!));
        if (!(applied instanceof Error)) returnsOrTyped(() => planFromLoaded(applied));
      },
    );
  });

  it("verify file: any mutation is read, or refused with an InputError", () => {
    const base = {
      format: "linkcrypt-verify",
      version: 1,
      inventory: labPlan.inventory,
      plan: { inventoryDigest: labPlan.inputs.inventoryDigest },
      observedAt: "2026-01-01T00:00:00Z",
      entries: [
        {
          kind: "pair",
          name: "app1~app2",
          method: "host-mesh",
          status: "secured",
          evidence: ["ok"],
          observedAt: "2026-01-01T00:00:00Z",
          keyAgeSeconds: 5,
        },
      ],
      hosts: [{ host: "app1", mesh: "dc1-lan", xfrmDeltas: [] }],
    };
    let n = 0;
    fuzz(
      "verify-file",
      fc.oneof(
        mutation(base).map((v) => JSON.stringify(v)),
        nastyString(40),
      ),
      (text) => {
        const p = write(`v${n++ % 8}.json`, text);
        const r = returnsOrTyped(() =>
          readVerifyFile(
            p,
            { name: labPlan.inventory, digest: labPlan.inputs.inventoryDigest },
            { now: new Date("2026-01-02T00:00:00Z"), maxAgeHours: 24 },
          ),
        );
        if (r instanceof Error) expect(r).toBeInstanceOf(InputError);
      },
    );
  });

  it("verify file through report and metrics: exit 0 or 1, never 70", async () => {
    const base = {
      format: "linkcrypt-verify",
      version: 1,
      inventory: labPlan.inventory,
      plan: { inventoryDigest: labPlan.inputs.inventoryDigest },
      observedAt: new Date().toISOString(),
      entries: [
        { kind: "pair", name: "app1~app2", method: "host-mesh", status: "secured", evidence: ["ok"], observedAt: new Date().toISOString() },
      ],
    };
    let n = 0;
    await fuzzAsync(
      "verify-file-cli",
      mutation(base),
      async (v) => {
        const p = write(`vc${n++ % 8}.json`, JSON.stringify(v));
        for (const verb of ["report", "metrics"]) {
          const r = await cli(verb, "examples/mesh-lab.yaml", "--verify", p);
          expect([0, 1], `${verb}: ${r.err}`).toContain(r.code);
          expect(r.err).not.toMatch(/internal error/);
        }
      },
      60,
    );
  });

  it("every example's plan passes the plan shape check unchanged", () => {
    for (const ex of [
      "examples/mesh-lab.yaml",
      "examples/lab-2site.yaml",
      "examples/two-site-dwdm.yaml",
      "examples/three-site-mixed.yaml",
    ]) {
      const plan = JSON.parse(JSON.stringify(planFromLoaded(loadAll(ex, [])))) as unknown;
      expect(checkPlanShape(plan, ex)).toBe(plan);
    }
  });

  it("report --plan with any mutation of a real plan: exit 0 or 1, never 70", async () => {
    const good = JSON.parse(JSON.stringify(labPlan)) as unknown;
    let n = 0;
    await fuzzAsync(
      "plan-file-report",
      mutation(good),
      async (v) => {
        const p = write(`rp${n++ % 8}.json`, JSON.stringify(v) ?? "null");
        const r = await cli("report", "examples/mesh-lab.yaml", "--plan", p, "--format", "json");
        expect([0, 1], r.err).toContain(r.code);
        expect(r.err).not.toMatch(/internal error/);
      },
      60,
    );
  });

  it("known_hosts: any file content and any presented key give a typed answer", () => {
    const line = fc.oneof(
      fc.constantFrom("# comment", "", "@revoked", "@cert-authority * ssh-ed25519 AAAA", "|1|", "|1|c2FsdA==|aGFzaA==", "[h]:2222", "h,g"),
      fc
        .tuple(
          fc.constantFrom("h", "[h]:2222", "|1|x|y", "*", "h,h2", "@revoked h"),
          fc.constantFrom("ssh-ed25519", "ssh-rsa", ""),
          fc.oneof(fc.base64String({ maxLength: 40 }), nastyString(10)),
        )
        .map((t) => t.join(" ")),
      nastyString(30),
    );
    let n = 0;
    fuzz(
      "known-hosts",
      fc.tuple(fc.array(line, { maxLength: 8 }), fc.uint8Array({ maxLength: 40 }), fc.constantFrom(22, 2222)),
      ([lines, key, port]) => {
        const p = write(`kh${n++ % 8}`, lines.join("\n"));
        const r = returnsOrTyped(() => checkHostKey(p, "h", port, Buffer.from(key)));
        if (!(r instanceof Error)) expect(["match", "unknown", "mismatch", "revoked"]).toContain(r.status);
      },
    );
  });
});
