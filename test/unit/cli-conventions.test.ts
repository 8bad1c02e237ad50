import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { cli } from "../cli-run.js";

/** Every verb's name, from the top-level help's command list. */
async function verbs(): Promise<string[]> {
  const { out } = await cli("--help");
  const section = out.split("Commands:\n")[1]!.split("\n\n")[0]!;
  return section
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0]!)
    .filter((v) => v && v !== "help");
}

describe("cli: conventions", () => {
  it("a bare linkcrypt prints the help on stderr and exits 64", async () => {
    const r = await cli();
    expect(r.code).toBe(64);
    expect(r.out).toBe("");
    expect(r.err).toContain("Usage: linkcrypt");
    expect(r.err).toContain("Examples:");
  });

  it("--version prints the version and the commit", async () => {
    const r = await cli("--version");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^linkcrypt \d+\.\d+\.\d+\S* \(.+\)\n$/);
  });

  it("every verb's --help ends with examples", async () => {
    const names = await verbs();
    expect(names).toEqual(expect.arrayContaining(["validate", "plan", "apply", "report", "metrics", "mtu", "completion"]));
    const missing: string[] = [];
    for (const name of [...names, "keys status"]) {
      const r = await cli(...name.split(" "), "--help");
      if (r.code !== 0 || !/\nExamples:\n {2}\$ (sudo )?linkcrypt /.test(r.out)) missing.push(name);
    }
    expect(missing).toEqual([]);
  });

  it("completion bash and zsh print scripts that name every verb; another shell is a usage error", async () => {
    const names = await verbs();
    for (const shell of ["bash", "zsh"]) {
      const r = await cli("completion", shell);
      expect(r.code).toBe(0);
      for (const v of names) expect(r.out).toContain(v);
    }
    expect((await cli("completion", "fish")).code).toBe(64);
  });

  it("the bash completion parses and completes verbs, fixed arguments and options", async () => {
    const script = (await cli("completion", "bash")).out;
    const complete = (...words: string[]) => {
      const probe = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _linkcrypt; echo "\${COMPREPLY[*]}"`;
      const r = spawnSync("bash", ["-c", probe], { encoding: "utf8" });
      expect(r.stderr).toBe("");
      return r.stdout.trim().split(" ");
    };
    expect(complete("linkcrypt", "me")).toEqual(["metrics", "mesh"]);
    expect(complete("linkcrypt", "mesh", "")).toContain("deliver");
    expect(complete("linkcrypt", "keys", "status", "--st")).toContain("--state");
    expect(complete("linkcrypt", "report", "inv.yaml", "--j")).toEqual(["--json"]);
  });

  it("report --json is --format json; metrics --json prints the samples", async () => {
    const report = await cli("report", "examples/two-site-dwdm.yaml", "--json");
    expect(JSON.parse(report.out).format).toBe("linkcrypt-report");
    expect((await cli("report", "examples/two-site-dwdm.yaml", "--json", "--format", "md")).code).toBe(64);
    const metrics = await cli("metrics", "examples/two-site-dwdm.yaml", "--json");
    expect(metrics.code).toBe(0);
    const m = JSON.parse(metrics.out) as { inventory: string; samples: { name: string; value: number }[] };
    expect(m.samples.length).toBeGreaterThan(0);
    expect(m.samples.every((s) => typeof s.name === "string" && typeof s.value === "number")).toBe(true);
    expect((await cli("metrics", "examples/two-site-dwdm.yaml", "--json", "--format", "graphite")).code).toBe(64);
  });
});
