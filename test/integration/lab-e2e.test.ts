import { chmodSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { labDown } from "../../src/lab/lab.js";
import { cli } from "../cli-run.js";

/**
 * The whole product on a lab that `linkcrypt lab up` builds from examples/lab-2site.yaml: two netconfd switches, two
 * snmpd encryptors and four charon hosts. plan -> apply -> verify -> report, and no secret anywhere.
 */
const root = mkdtempSync(join(tmpdir(), "lc-lab-e2e-"));
chmodSync(root, 0o755); // the lab switches' sshd reads keys as the unprivileged lab user
const dir = join(root, "lab");
const inv = join(dir, "inventory.yaml");
afterAll(async () => labDown(dir));

describe("end to end through linkcrypt lab up", () => {
  const outputs: string[] = [];
  const access = () => ["--known-hosts", join(dir, "known_hosts"), "--secrets", join(dir, "secrets.yaml")];
  it("lab up, plan, apply, verify, report", async () => {
    const up = await cli("lab", "up", "examples/lab-2site.yaml", "--dir", dir);
    expect(up.code, up.out + up.err).toBe(0);
    expect((await cli("plan", inv, "--out", join(root, "plan.json"))).code).toBe(0);
    const a = await cli("apply", join(root, "plan.json"), "--inventory", inv, ...access(), "--state-dir", join(root, "state"), "--lab", "--confirm-timeout", "30", "--json");
    outputs.push(a.out, a.err);
    expect(a.code, a.out + a.err).toBe(2);
    const results = JSON.parse(a.out).results as { target: string; outcome: string; detail: string }[];
    expect(results.map((r) => `${r.target}:${r.outcome}`)).toEqual(["a1-b1-l1:changed", "a1-b1-macsec:changed", "mesh app:changed"]);
    expect(results.find((r) => r.target === "mesh app")!.detail).toMatch(/^6\/6 pairs up/);
    const v = await cli("verify", inv, ...access(), "--out", join(root, "verify.json"), "--json");
    outputs.push(v.out);
    const status = Object.fromEntries((JSON.parse(v.out).entries as { name: string; status: string }[]).map((e) => [e.name, e.status]));
    expect(status["a1-b1-l1"]).toBe("secured");
    expect(status["a1-b1-macsec"]).toBe("unknown"); // lab switches run no MKA
    expect(Object.entries(status).filter(([k, s]) => k.startsWith("app:") && s === "secured")).toHaveLength(6);
    const r = await cli("report", inv, "--verify", join(root, "verify.json"), "--format", "md");
    outputs.push(r.out);
    expect(r.out).toMatch(/\| a1-b1-l1 \|.*\| secured \|/);
    expect(r.out).toMatch(/app: 4 hosts, 6 pairs, 6 verified secured/);
  }, 120_000);

  it("no secret appears in any output, plan, journal or report", () => {
    const secrets = JSON.parse(readFileSync(join(root, "state", "secrets.json"), "utf8")) as Record<string, string>;
    const cak = JSON.parse(secrets["macsec/a1-b1-macsec"]!).cak as string;
    const master = readFileSync(join(dir, "mesh-master.key"), "utf8").trim();
    const snmp = Object.values(parse(readFileSync(join(dir, "secrets.yaml"), "utf8")) as Record<string, string>);
    expect(snmp.length).toBe(4);
    const texts = [...outputs, readFileSync(join(root, "plan.json"), "utf8"), readFileSync(join(root, "state", "journal.jsonl"), "utf8"), readFileSync(join(root, "verify.json"), "utf8")];
    for (const t of texts) for (const s of [cak, master, ...snmp]) expect(t.includes(s), `a secret leaked into: ${t.slice(0, 80)}`).toBe(false);
  });
});
