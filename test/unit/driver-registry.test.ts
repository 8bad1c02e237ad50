import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { DriverContext, MacsecChange } from "../../drivers/contract.js";
import { DRIVERS, driverDescriptor, driverFactory, driverNames, registerDriver } from "../../drivers/registry.js";
import { MACSEC_SUITE_IDS } from "../../src/crypto/macsec-suites.js";
import { loadProfiles } from "../../src/model/load-profiles.js";
import type { SshConnection } from "../../src/transport/ssh.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A profile directory holding one file; loadProfiles reads it after the bundled profiles. */
function profileDir(file: string, lines: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), "lc-drv-"));
  dirs.push(dir);
  writeFileSync(join(dir, file), `${lines.join("\n")}\n`);
  return dir;
}

const switchProfile = (name: string, driver: string, extra: string[] = []) => [
  "kind: switch",
  `name: ${name}`,
  "vendor: Test",
  "model: T1",
  `driver: ${driver}`,
  "maxFrame: 9216",
  "portGroups:",
  '  - { match: "eth*", macsec: { suites: [GCM-AES-256], sci: always } }',
  ...extra,
];

const change: MacsecChange = {
  kind: "macsec",
  policy: { name: "p1", suite: "GCM-AES-XPN-256", includeSci: true, keyServerPriority: 16, sakRekeySeconds: 0, mustSecure: true },
  keychain: { name: "k1", ckn: "ab".repeat(32), cak: "cd".repeat(32), cryptoAlgorithm: "AES_256_CMAC" },
  interfaces: [{ name: "eth1", replayWindow: 0 }],
};

describe("drivers: the registry is complete", () => {
  const folders = readdirSync("drivers").filter((f) => f !== "shared" && statSync(join("drivers", f)).isDirectory());

  it("every folder under drivers/ (shared/ aside) is registered under its own name, with the descriptor its index.ts exports", async () => {
    expect(folders.length).toBeGreaterThanOrEqual(6);
    expect(DRIVERS.map((d) => d.name).sort()).toEqual([...folders].sort());
    for (const f of folders) {
      const mod = (await import(/* @vite-ignore */ resolve("drivers", f, "index.ts"))) as { descriptor?: unknown };
      expect(mod.descriptor, f).toBeDefined();
      expect(driverDescriptor(f), f).toBe(mod.descriptor);
    }
  });

  it("each descriptor has its parts: name, kind, factory, options schema and suite names", () => {
    for (const d of DRIVERS) {
      expect(d.name, d.name).toMatch(/^[a-z0-9][a-z0-9-]*$/);
      expect(["switch", "l1-encryptor", "host"], d.name).toContain(d.kind);
      expect(typeof d.create, d.name).toBe("function");
      expect(typeof d.optionsSchema.safeParse, d.name).toBe("function");
      expect(d.optionsSchema.safeParse({}).success, `${d.name}: a profile without options must be valid`).toBe(true);
      expect(d.optionsSchema.safeParse({ "no-such-option": 1 }).success, `${d.name}: unknown options must be refused`).toBe(false);
      expect(typeof d.suiteNames, d.name).toBe("object");
    }
  });

  it("a driver that renders MACsec names every suite, and its render uses those names", () => {
    const renderers = DRIVERS.filter((d) => d.render);
    expect(renderers.map((d) => d.name).sort()).toEqual(["eos-macsec", "junos-macsec", "openconfig-macsec"]);
    for (const d of renderers) {
      expect(Object.keys(d.suiteNames).sort(), d.name).toEqual([...MACSEC_SUITE_IDS].sort());
      expect(d.render!(change), d.name).toContain(d.suiteNames["GCM-AES-XPN-256"]);
    }
  });

  it("every folder's files import neither the registry nor another driver's folder", () => {
    const IMPORT = /\bfrom\s+["']([^"']+)["']/g;
    for (const f of folders)
      for (const file of readdirSync(join("drivers", f), { recursive: true, encoding: "utf8" }).filter((x) => x.endsWith(".ts"))) {
        const specs = [...readFileSync(join("drivers", f, file), "utf8").matchAll(IMPORT)].map((m) => m[1]!);
        const depth = file.split("/").length; // drivers/<f>/<file>: "../" * depth reaches drivers/
        const up = "../".repeat(depth);
        expect(
          specs.filter((s) => s.startsWith(up) && !s.startsWith(`${up}../`) && !/^(?:\.\.\/)+(contract|shared\/[^/]+)\.js$/.test(s)),
          `drivers/${f}/${file}`,
        ).toEqual([]);
      }
  });
});

describe("validate: a profile's driver comes from the registry", () => {
  it("an unknown driver is an error naming the file, the field and the value", () => {
    const dir = profileDir("typo.yaml", switchProfile("typo-switch", "eos-macsce"));
    const errors = loadProfiles([dir]).diagnostics.filter((d) => d.severity === "error");
    expect(errors).toHaveLength(1);
    expect(errors[0]!.code).toBe("profile.driver");
    expect(errors[0]!.path).toMatch(/typo\.yaml: driver$/);
    expect(errors[0]!.message).toContain('"eos-macsce" is not a driver of this version');
    expect(errors[0]!.message).toContain('did you mean "eos-macsec"');
    expect(errors[0]!.source).toMatch(/typo\.yaml:5:\d+$/);
  });

  it("the accepted names are the registry's: the message lists exactly them", () => {
    const dir = profileDir("typo.yaml", switchProfile("typo-switch", "nope"));
    const [e] = loadProfiles([dir]).diagnostics.filter((d) => d.severity === "error");
    expect(e!.message).toContain(`(drivers: ${driverNames().join(", ")})`);
  });

  it("a driver of another kind is refused: a host driver cannot drive a switch", () => {
    const dir = profileDir("kind.yaml", switchProfile("kind-switch", "linux-host"));
    const errors = loadProfiles([dir]).diagnostics.filter((d) => d.severity === "error");
    expect(errors.map((e) => `${e.path}: ${e.message}`)).toEqual([
      expect.stringMatching(/kind\.yaml: driver: "linux-host" drives a host, not a switch/),
    ]);
  });

  it("options: are checked by the driver's own schema, naming the file and the field", () => {
    const dir = profileDir("opts.yaml", switchProfile("opts-switch", "eos-macsec", ["options:", "  colour: blue"]));
    const errors = loadProfiles([dir]).diagnostics.filter((d) => d.severity === "error");
    expect(errors).toHaveLength(1);
    expect(errors[0]!.path).toMatch(/opts\.yaml: options\.colour$/);
    expect(errors[0]!.message).toMatch(/driver eos-macsec: unknown field "colour"/);
  });

  it("the bundled profiles all name a registered driver of their kind", () => {
    const r = loadProfiles();
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    for (const p of [...r.profiles!.switches.values(), ...r.profiles!.l1.values(), ...r.profiles!.hosts.values()])
      expect(driverDescriptor(p.driver)?.kind, p.name).toBe(p.kind);
  });
});

describe("drivers: a vendor is one folder (CONTRIBUTING's worked example, test/fixtures/drivers/example-macsec)", () => {
  const FOLDER = "test/fixtures/drivers/example-macsec";
  const profile = switchProfile("example-x1", "example-macsec", ["options:", "  profilePrefix: site", "sources: [test fixture]"]);

  it("the folder uses only the contract, the typed errors, the small utilities and zod: no core file knows it", () => {
    const specs = readdirSync(FOLDER, { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".ts"))
      .flatMap((f) => [...readFileSync(join(FOLDER, f), "utf8").matchAll(/\bfrom\s+["']([^"']+)["']/g)].map((m) => m[1]!));
    const outside = [...new Set(specs.filter((s) => !s.startsWith("./")).map((s) => s.replace(/^(\.\.\/)+/, "")))].sort();
    expect(outside).toEqual(["drivers/contract.js", "src/crypto/macsec-suites.js", "src/errors.js", "src/util/line-diff.js", "zod"]);
    for (const f of ["src", "drivers", "profiles"])
      for (const file of readdirSync(f, { recursive: true, encoding: "utf8" }).filter((x) => /\.(ts|ya?ml)$/.test(x)))
        expect(readFileSync(join(f, file), "utf8"), `${f}/${file}`).not.toContain("example-macsec");
  });

  it("unregistered, its profile is refused; registered from the folder, the profile validates with its options parsed", async () => {
    const dir = profileDir("example-x1.yaml", profile);
    expect(
      loadProfiles([dir])
        .diagnostics.filter((d) => d.severity === "error")
        .map((d) => d.message),
    ).toEqual([expect.stringContaining('"example-macsec" is not a driver of this version')]);

    const example = await import("../fixtures/drivers/example-macsec/index.js");
    registerDriver(example.descriptor);
    const r = loadProfiles([dir]);
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    expect(r.profiles!.switches.get("example-x1")!.options).toEqual({ profilePrefix: "site", sessionTimeoutS: 30 });

    const bad = profileDir("example-x2.yaml", switchProfile("example-x2", "example-macsec", ["options:", "  profilePrefix: Not Valid"]));
    expect(
      loadProfiles([bad])
        .diagnostics.filter((d) => d.severity === "error")
        .map((d) => d.path),
    ).toEqual([expect.stringMatching(/example-x2\.yaml: options\.profilePrefix$/)]);
  });

  it("the core builds it by name and drives it through the contract: render, diff with the key masked, link state", async () => {
    const sent: string[][] = [];
    const fake = {
      run: async (cmd: string) => (cmd === "show macsec" ? "eth1 secured gcm256-xpn\neth2 pending gcm256-xpn\n" : "ExampleOS 1.0\n"),
      shellScript: async (lines: string[]) => {
        sent.push(lines);
        return { code: 0, signal: undefined, stdout: "", stderr: "" };
      },
    } as unknown as SshConnection;
    const ctx: DriverContext = {
      device: "sw1",
      profile: { options: { profilePrefix: "site" } },
      ssh: async () => fake,
      snmp: () => {
        throw new Error("no SNMP");
      },
      commandTimeoutMs: 1000,
      now: () => new Date("2026-01-01T00:00:00Z"),
    };
    const factory = driverFactory("example-macsec");
    expect(factory).toBeDefined();
    const d = factory!(ctx);
    await d.loadCandidate(change);
    const diff = await d.diff();
    expect(diff).toContain("+   cipher gcm256-xpn");
    expect(diff).toContain("+ macsec profile site-p1");
    expect(diff).not.toContain("cd".repeat(32));
    await d.commit({ confirmTimeoutS: 60 });
    expect(sent[0]).toContain(`  key ${"ab".repeat(32)} cak ${"cd".repeat(32)}`);
    expect((await d.linkSecurity()).map((s) => `${s.port}=${s.status}`)).toEqual(["eth1=secured", "eth2=pending"]);
  });
});
