import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { agesAt, keyStamps, type KeyAgeStore } from "../../src/metrics/key-ages.js";
import { collectSamples, prometheusText } from "../../src/metrics/metrics.js";
import type { Inventory } from "../../src/model/inventory-schema.js";
import type { Plan } from "../../src/planner/plan-types.js";
import type { JournalEntry } from "../../src/state/store.js";
import type { VerifyReport } from "../../src/verify/verify.js";
import { promtoolCheck } from "../lab/serve-proc.js";
import { plan as planOf } from "../helpers.js";
import { pskMasterSecretName } from "../../src/mesh/mesh-access.js";

const text = readFileSync("examples/three-site-mixed.yaml", "utf8");
const p = planOf(text);
const inv = parse(text) as Inventory;
const mesh = p.meshes[0]!;
const OPTS = { pskMasterName: pskMasterSecretName };
const members = mesh.members.map((m) => m.name);

function report(statuses: VerifyReport["entries"][number]["status"][], extra: VerifyReport["entries"] = []): VerifyReport {
  const pairs: string[] = [];
  for (let i = 0; i < members.length; i++) for (let j = i + 1; j < members.length; j++) pairs.push(`${members[i]}~${members[j]}`);
  return {
    format: "linkcrypt-verify",
    version: 1,
    plan: p.inputs,
    observedAt: "2026-01-01T00:00:00Z",
    entries: [
      ...statuses.map((status, i) => ({
        kind: "pair" as const,
        name: `${mesh.name}:${pairs[i]}`,
        method: "host-mesh",
        status,
        evidence: [],
        observedAt: "2026-01-01T00:00:00Z",
      })),
      ...extra,
    ],
  };
}

const value = (out: string, re: RegExp) => out.split("\n").filter((l) => re.test(l));
const sum = (lines: string[]) => lines.reduce((a, l) => a + Number(l.split(" ").at(-1)), 0);

describe("linkcrypt_mesh_pairs: each pair counted once", () => {
  it("sums to the planned pairs whatever verify saw, with not-verified for the rest", () => {
    expect(mesh.pairs).toBe(10);
    // 4 pairs verified (one of each status), plus a host that could not be read: not a pair, not counted.
    const v = report(
      ["secured", "degraded", "unsecured", "unknown"],
      [
        {
          kind: "pair",
          name: `${mesh.name}:${members[0]}`,
          method: "host-mesh",
          status: "unknown",
          evidence: ["ssh: refused"],
          observedAt: "x",
        },
      ],
    );
    const out = prometheusText(collectSamples(p, v));
    const lines = value(out, /^linkcrypt_mesh_pairs\{mesh="global"/);
    expect(sum(lines)).toBe(10);
    expect(out).toContain('linkcrypt_mesh_pairs{mesh="global",status="not-verified"} 6');
    expect(out).toContain('linkcrypt_mesh_pairs{mesh="global",status="unknown"} 1');
    expect(out).toContain('linkcrypt_mesh_planned_pairs{mesh="global"} 10');
    // One-hot per pair: each pair's series sum to 1.
    const oneHot = value(out, /^linkcrypt_pair_status\{/);
    expect(sum(oneHot)).toBe(4);
    expect(promtoolCheck(out).code).toBe(0);
  });
  it("without verify every planned pair is not-verified", () => {
    const out = prometheusText(collectSamples(p));
    expect(sum(value(out, /^linkcrypt_mesh_pairs\{/))).toBe(10);
    expect(out).toContain('linkcrypt_mesh_pairs{mesh="global",status="not-verified"} 10');
  });
  it("exempt and refused pairs are their own statuses, never not-verified", () => {
    const classes = mesh.pairClasses.map((c, i) => ({ ...c, method: i === 0 ? "exempt" : i === 1 ? "refused" : c.method }));
    const p2 = { ...p, meshes: [{ ...mesh, pairClasses: classes }] } as Plan;
    const out = prometheusText(collectSamples(p2, report(["secured", "secured"])));
    expect(sum(value(out, /^linkcrypt_mesh_pairs\{/))).toBe(10);
    expect(out).toContain('linkcrypt_mesh_pairs{mesh="global",status="exempt"} 1');
    expect(out).toContain('linkcrypt_mesh_pairs{mesh="global",status="refused"} 1');
    expect(out).toContain('linkcrypt_mesh_pairs{mesh="global",status="not-verified"} 6');
  });
  it("all secured: sum still the planned pairs", () => {
    const out = prometheusText(collectSamples(p, report(Array(10).fill("secured"))));
    expect(sum(value(out, /^linkcrypt_mesh_pairs\{/))).toBe(10);
    expect(out).toContain('linkcrypt_mesh_pairs{mesh="global",status="secured"} 10');
  });
});

describe("key ages", () => {
  it("each L1 encryptor's own age, from verify's ends", () => {
    const v: VerifyReport = {
      ...report([]),
      entries: [
        {
          kind: "link",
          name: "lon1-par1-wave",
          method: "l1",
          status: "secured",
          evidence: [],
          keyAgeSeconds: 900,
          observedAt: "x",
          ends: [
            { device: "lon1-enc1", port: "line", status: "secured", keyAgeSeconds: 300 },
            { device: "par1-enc1", port: "line", status: "secured", keyAgeSeconds: 900 },
          ],
        },
      ],
    };
    const out = prometheusText(collectSamples(p, v));
    expect(out).toContain('linkcrypt_key_age_seconds{key="lon1-enc1",kind="encryptor"} 300');
    expect(out).toContain('linkcrypt_key_age_seconds{key="par1-enc1",kind="encryptor"} 900');
    expect(out).toContain('linkcrypt_key_age_seconds{key="lon1-par1-wave",kind="l1"} 900');
    expect(promtoolCheck(out).code).toBe(0);
  });

  function fakeStore(secrets: Record<string, string>, journal: JournalEntry[] = []): KeyAgeStore {
    return { secretCreatedAt: async (n) => secrets[n], journal: async () => journal };
  }
  const withMaster = (ref: string): Inventory => ({ ...inv, meshes: inv.meshes.map((m) => ({ ...m, pskMaster: ref })) });
  const macsecPlan = { ...p, links: [...p.links, { ...p.links[0]!, name: "sw-link", method: "macsec" }] } as Plan;

  it("state: master and MACsec CAK from the store's times (fake store)", async () => {
    const s = await keyStamps(
      macsecPlan,
      withMaster("state:"),
      fakeStore({ "mesh/global/psk-master": "2026-01-01T00:00:00Z", "macsec/sw-link": "2026-01-02T00:00:00Z" }),
      OPTS,
    );
    const ages = agesAt(s, Date.parse("2026-01-03T00:00:00Z"));
    expect(ages).toEqual([
      { key: "sw-link", kind: "macsec-cak", seconds: 86_400 },
      { key: "global", kind: "mesh-psk-master", seconds: 172_800 },
    ]);
  });

  it("file: master from its mtime; no store needed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lc-keyage-"));
    try {
      const f = join(dir, "master.key");
      writeFileSync(f, "x");
      const s = await keyStamps(p, withMaster(`file:${f}`), undefined, OPTS);
      expect(s).toHaveLength(1);
      expect(s[0]!.source).toBe("file");
      expect(Math.abs(s[0]!.createdAtMs - Date.now())).toBeLessThan(60_000);
      expect(await keyStamps(p, withMaster(`file:${join(dir, "missing")}`), undefined, OPTS)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("env:/secrets: master: the journal's last rotation of that mesh, else nothing", async () => {
    const j = (at: string, target: string, state: JournalEntry["state"] = "done"): JournalEntry => ({
      at,
      run: "r",
      step: "rotate psk-master",
      target,
      state,
    });
    const journal = [
      j("2026-01-01T00:00:00Z", "global"),
      j("2026-01-02T00:00:00Z", "global"),
      j("2026-01-05T00:00:00Z", "other"),
      j("2026-01-06T00:00:00Z", "global", "failed"),
    ];
    const s = await keyStamps(p, withMaster("secrets:mesh"), fakeStore({}, journal), OPTS);
    expect(s).toEqual([{ key: "global", kind: "mesh-psk-master", createdAtMs: Date.parse("2026-01-02T00:00:00Z"), source: "journal" }]);
    expect(await keyStamps(p, withMaster("secrets:mesh"), fakeStore({}, []), OPTS)).toEqual([]);
  });
});

describe("one-shot metrics with a state store", () => {
  it("runMetricsWithState reads the journal's last rotation from a real SQLite store, and stays promtool-clean", async () => {
    const { openState } = await import("../../src/state/open.js");
    const { runMetricsWithState } = await import("../../src/cli/report.js");
    const dir = mkdtempSync(join(tmpdir(), "lc-metrics-state-"));
    try {
      const db = join(dir, "s.sqlite");
      const store = await openState({ state: db, inventory: p.inventory, secrets: { env: {} } });
      const at = new Date(Date.now() - 3_600_000).toISOString();
      await store.append({ at, run: "r1", step: "rotate psk-master", target: "global", state: "done" });
      await store.close();
      let out = "";
      const code = await runMetricsWithState(
        "examples/three-site-mixed.yaml",
        { state: db, profiles: [] },
        { write: (s) => void (out += s) },
      );
      expect(code).toBe(0);
      const line = out.split("\n").find((l) => l.startsWith('linkcrypt_key_age_seconds{key="global",kind="mesh-psk-master"}'));
      expect(line, out).toBeDefined();
      expect(Math.abs(Number(line!.split(" ")[1]) - 3600)).toBeLessThan(60);
      expect(promtoolCheck(out).code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
