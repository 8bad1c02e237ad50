import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { serveApplyDomain } from "../../src/cli/serve.js";
import { labDown, readLab } from "../../src/lab/lab.js";
import { CONF_FILE } from "../../src/mesh/deliver.js";
import { openState } from "../../src/state/open.js";
import { cli } from "../cli-run.js";
import { startServe } from "../lab/serve-proc.js";

/**
 * serve --auto-apply's way to apply and rotate (serveApplyDomain, the adapter over the CLI's runApply and runRotate) on
 * the libipsec lab, 4 real charons: a delivered mesh reads as nothing to change; a host's configuration changed behind
 * linkcrypt's back (drift) shows in the dry run and is put back by the apply; a mesh rotation writes a new master and
 * keeps the pairs up. What serve decides around these calls is unit-tested with a fake domain.
 */
const root = mkdtempSync(join(tmpdir(), "lc-serve-auto-"));
const dir = join(root, "lab");
const inv = join(dir, "inventory.yaml");
const stateFile = join(root, "state.sqlite");
const domain = () =>
  serveApplyDomain({
    inventory: inv,
    profiles: [],
    state: stateFile,
    knownHosts: join(dir, "known_hosts"),
    secrets: join(dir, "secrets.yaml"),
    lab: true,
  });

beforeAll(async () => {
  const r = await cli("lab", "up", "examples/mesh-lab.yaml", "--name", "sauto", "--dir", dir);
  expect(r.code, r.out + r.err).toBe(0);
  const d = await cli("mesh", "deliver", inv, "--lab");
  expect(d.code, d.out + d.err).toBe(0);
}, 120_000);

afterAll(async () => {
  await labDown(dir);
  rmSync(root, { recursive: true, force: true });
}, 60_000);

describe("serve --auto-apply's apply and rotate adapter on the libipsec lab", () => {
  it("a delivered mesh: the dry run has nothing to change", async () => {
    const r = await domain().apply({ dryRun: true });
    expect(r.code, JSON.stringify(r)).toBe(0);
    expect(r.results.map((x) => `${x.kind}:${x.outcome}`)).toEqual(["mesh:unchanged"]);
  }, 60_000);

  it("drift: a host's configuration edited behind linkcrypt's back shows in the dry run, and the apply puts it back", async () => {
    const host = readLab(dir)!.hosts.find((h) => h.name === "db2")!;
    const conf = join(host.dir, "swanctl", "conf.d", CONF_FILE);
    const good = readFileSync(conf, "utf8");
    writeFileSync(conf, good.replace(/rekey_time = \d+/, "rekey_time = 7"));
    expect(readFileSync(conf, "utf8")).not.toBe(good);
    const dry = await domain().apply({ dryRun: true });
    expect(dry.code, JSON.stringify(dry)).toBe(2);
    expect(dry.results.map((x) => `${x.kind}:${x.outcome}`)).toEqual(["mesh:planned"]);
    // Delivery writes the files again; what charon has loaded already matches the plan, so apply calls the mesh
    // unchanged (exit 0): the drift was in the file only.
    const real = await domain().apply({ dryRun: false });
    expect([0, 2], JSON.stringify(real)).toContain(real.code);
    expect(real.run).toMatch(/^[0-9a-f-]{36}$/);
    expect(real.results.map((x) => x.kind)).toEqual(["mesh"]);
    expect(real.results[0]!.detail).toMatch(/6\/6 pairs up/);
    expect(readFileSync(conf, "utf8")).toBe(good);
    // Apply journaled its own run; the next dry run is clean again.
    const s = await openState({
      state: stateFile,
      inventory: (await import("yaml")).parse(readFileSync(inv, "utf8")).name,
      secrets: { env: {} },
    });
    try {
      expect((await s.journal()).some((e) => e.run === real.run)).toBe(true);
    } finally {
      await s.close();
    }
    expect((await domain().apply({ dryRun: true })).code).toBe(0);
  }, 120_000);

  it("rotate mesh: a new master file, delivered, the pairs still up", async () => {
    const ref = /pskMaster:\s*"?file:([^"\s]+)"?/.exec(readFileSync(inv, "utf8"))![1]!;
    const before = readFileSync(ref, "utf8");
    const mtime = statSync(ref).mtimeMs;
    const r = await domain().rotate("mesh", "dc1-lan");
    expect(r.ok, r.detail).toBe(true);
    const out = JSON.parse(r.detail.replace(/^exit 2: /, "")) as { pairs: number; up: number };
    expect(out).toMatchObject({ pairs: 6, up: 6 });
    expect(readFileSync(ref, "utf8")).not.toBe(before);
    expect(statSync(ref).mtimeMs).toBeGreaterThan(mtime);
  }, 120_000);

  it("serve --auto-apply end to end: a changed inventory is planned, applied (journaled with its reason) and loaded; the hosts carry the new proposal", async () => {
    const serve = await startServe(
      [
        inv,
        "--listen",
        "127.0.0.1:0",
        "--state",
        stateFile,
        "--interval",
        "2",
        "--auto-apply",
        "--lab",
        "--known-hosts",
        join(dir, "known_hosts"),
        "--secrets",
        join(dir, "secrets.yaml"),
      ],
      { LINKCRYPT_SERVE_BACKOFF_MS: "300" },
    );
    const original = readFileSync(inv, "utf8");
    try {
      await serve.waitLog("first verify", (l) => l.msg === "verified", 60_000);
      const host = readLab(dir)!.hosts.find((h) => h.name === "app1")!;
      const conf = join(host.dir, "swanctl", "conf.d", CONF_FILE);
      expect(readFileSync(conf, "utf8")).toMatch(/esp_proposals = aes256gcm16/);
      // Narrow the mesh to AES-GCM-128: every pair's proposal changes.
      const doc = parse(original) as { meshes: { name: string; ciphers?: string[] }[] };
      doc.meshes[0]!.ciphers = ["aes-gcm-128"];
      writeFileSync(inv, stringify(doc));
      expect(readFileSync(inv, "utf8")).toMatch(/aes-gcm-128/);
      const applied = await serve.waitLog(
        "auto-apply of the new plan",
        (l) => /^auto-apply: plan-pending (done|failed)$/.test(String(l.msg)),
        120_000,
      );
      expect(applied.msg, JSON.stringify(applied)).toBe("auto-apply: plan-pending done");
      const text = readFileSync(conf, "utf8");
      const esp = [...text.matchAll(/esp_proposals = (\S+)/g)].map((m) => m[1]);
      expect(esp.length).toBeGreaterThan(0);
      expect(
        esp.every((p) => p!.startsWith("aes128gcm16")),
        esp.join(" "),
      ).toBe(true);
      // and the mesh runs on it: every pair up again on the new proposal (serve repairs any the reload dropped)
      let pairs: { status: string }[] = [];
      for (let i = 0; i < 30; i++) {
        pairs = (JSON.parse((await cli("mesh", "verify", inv, "--lab", "--json")).out) as { pairs: { status: string }[] }).pairs;
        if (pairs.length === 6 && pairs.every((p) => p.status === "up" || p.status === "idle")) break;
        await new Promise((r) => setTimeout(r, 1000));
      }
      expect(pairs.map((p) => p.status)).toEqual(Array(6).fill("up"));
      const s = await openState({ state: stateFile, inventory: invName(), secrets: { env: {} } });
      try {
        const runs = (await s.journal()).filter((e) => e.step === "serve-auto-apply");
        expect(
          runs.some((e) => e.state === "started" && /plan/i.test(e.detail ?? "")),
          JSON.stringify(runs),
        ).toBe(true);
        expect(
          runs.some((e) => e.state === "done"),
          JSON.stringify(runs),
        ).toBe(true);
      } finally {
        await s.close();
      }
    } finally {
      writeFileSync(inv, original);
      await serve.stop();
    }
  }, 240_000);
});

function invName(): string {
  return /^name:\s*(.+)$/m.exec(readFileSync(inv, "utf8"))![1]!.replace(/^"|"$/g, "");
}
