import { describe, expect, it } from "vitest";
import { host, load, messages, twoSite } from "../helpers.js";

const meshInv = (members: object, extra: object = {}) =>
  twoSite(
    {},
    {
      devices: [
        host("h1", "a", "mlx5-connectx-6dx"),
        host("h2", "a", "mlx5-connectx-6dx", { role: "web", tags: ["pci"] }),
        host("h3", "b", "mlx5-connectx-6dx"),
      ],
      links: [],
      meshes: [{ name: "m", members, mode: "transport", pskMaster: "env:MESH_KEY", ...extra }],
    },
  );

describe("model: mesh selectors", () => {
  it("a role that matches no host is an error naming the entry, with the roles hosts have", () => {
    const r = load(meshInv({ roles: ["app", "dbs"] }));
    expect(r.model).toBeUndefined();
    expect(messages(r.diagnostics, "error")).toEqual([
      'meshes[0].members.roles[1]: role "dbs" matches no host (roles that hosts have: app, web)',
    ]);
  });
  it("a tag or a site without hosts is an error too; entries that match are fine", () => {
    const r = load(meshInv({ tags: ["pci", "pcx"] }));
    expect(messages(r.diagnostics, "error")).toEqual([
      'meshes[0].members.tags[1]: tag "pcx" matches no host (tags that hosts have: pci); did you mean "pci"?',
    ]);
    const inv = meshInv({ sites: ["a", "c"] }) as { sites: object[] };
    inv.sites.push({ name: "c" });
    expect(messages(load(inv).diagnostics, "error")).toEqual([
      expect.stringMatching(/^meshes\[0\]\.members\.sites\[1\]: site "c" matches no host \(sites that hosts have: a, b\)/),
    ]);
    expect(messages(load(meshInv({ roles: ["app", "web"], sites: ["a", "b"] })).diagnostics, "error")).toEqual([]);
  });
});

describe("model: profiles name a real driver", () => {
  it("a misspelled driver in a profile fails validate and plan, naming the file and the field", async () => {
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { cli } = await import("../cli-run.js");
    const dir = mkdtempSync(join(tmpdir(), "lc-prof-"));
    writeFileSync(
      join(dir, "typo.yaml"),
      [
        "kind: switch",
        "name: juniper-ptx10001-36mr",
        "vendor: Juniper",
        "model: PTX10001-36MR (typo)",
        "driver: junos-macsce",
        "maxFrame: 9216",
        "portGroups:",
        '  - { match: "et-*", macsec: { suites: [GCM-AES-XPN-256], sci: always } }',
        "",
      ].join("\n"),
    );
    for (const verb of ["validate", "plan"]) {
      const r = await cli(verb, "examples/two-site-dwdm.yaml", "--profiles", dir);
      expect(r.code, `${verb}: ${r.out}${r.err}`).toBe(1);
      expect(r.out + r.err).toMatch(
        /typo\.yaml: driver.*"junos-macsce" is not a driver of this version \(drivers: .*junos-macsec.*\); did you mean "junos-macsec"\?/,
      );
    }
  });
});

describe("plan: what apply would trip on is a diagnostic with a path", () => {
  it("a PSK mesh without pskMaster is an error at meshes[i].pskMaster; an encryptor profile without an SNMP map is named", async () => {
    const { mkdtempSync, readFileSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { cli } = await import("../cli-run.js");
    const dir = mkdtempSync(join(tmpdir(), "lc-ready-"));
    const f = join(dir, "no-master.yaml");
    writeFileSync(f, readFileSync("examples/three-site-mixed.yaml", "utf8").replace(/^\s*pskMaster: .*$/m, ""));
    const r = await cli("plan", f, "--json");
    expect(r.code).toBe(1);
    const diags = JSON.parse(r.out).diagnostics as { severity: string; path: string; message: string }[];
    expect(diags.filter((d) => d.severity === "error").map((d) => `${d.path}: ${d.message}`)).toEqual([
      expect.stringMatching(/^meshes\[0\]\.pskMaster: mesh "global" uses per-pair PSKs but names no pskMaster/),
    ]);
    const ok = await cli("plan", "examples/three-site-mixed.yaml", "--json");
    const warned = (JSON.parse(ok.out).diagnostics as { path: string; code: string; message: string }[]).filter(
      (d) => d.code === "apply.l1-snmp-map",
    );
    expect(warned.map((d) => d.path)).toEqual(["devices[4].profile", "devices[5].profile"]);
    expect(warned[0]!.message).toMatch(/encryptor "lon1-enc1" .*thales-cn9120.* no snmp\.base, snmp\.oids\.cipher/);
  });
});

describe("mesh hosts: this machine only when the inventory says so", () => {
  it("management: {transport: local} needs no address; ssh without an address is an error at its path", () => {
    const local = meshInv({ sites: ["a", "b"] }) as { devices: Record<string, unknown>[] };
    for (const d of local.devices) d.management = { transport: "local" };
    expect(messages(load(local).diagnostics, "error")).toEqual([]);
    const ssh = meshInv({ sites: ["a", "b"] }) as { devices: Record<string, unknown>[] };
    ssh.devices[1]!.management = { transport: "ssh" };
    expect(messages(load(ssh).diagnostics, "error")).toEqual([
      expect.stringMatching(/^devices\[1\]\.management\.address: address is required unless transport is local/),
    ]);
  });

  it("a mesh command on hosts without a management block refuses (exit 1), naming the host, instead of using the local strongSwan", async () => {
    const { cli } = await import("../cli-run.js");
    const r = await cli("mesh", "status", "examples/mesh-lab.yaml");
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.err).toMatch(/mesh dc1-lan: host app1 has no management block; .*management: \{transport: local\} if it is this machine/);
  });
});

describe("mesh: a PSK master shorter than 32 bytes", () => {
  it("mesh deliver refuses it as bad input (exit 1, naming the reference), not as an internal error", async () => {
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { stringify } = await import("yaml");
    const { cli } = await import("../cli-run.js");
    const dir = mkdtempSync(join(tmpdir(), "lc-short-master-"));
    writeFileSync(join(dir, "short.key"), "0123456789abcdef\n", { mode: 0o600 });
    const inv = meshInv({ sites: ["a", "b"] }, { pskMaster: `file:${join(dir, "short.key")}` }) as { devices: Record<string, unknown>[] };
    for (const d of inv.devices)
      if (d.kind === "host")
        Object.assign(d, { management: { transport: "local" }, vici: { socket: join(dir, `${String(d.name)}.vici`), confDir: dir } });
    writeFileSync(join(dir, "inv.yaml"), stringify(inv));
    const r = await cli("mesh", "deliver", join(dir, "inv.yaml"), "--no-blocking");
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.err).toMatch(/mesh m: the pskMaster secret \(file:.*short\.key\) is 16 bytes; it must be at least 32 random bytes/);
    expect(r.err).not.toMatch(/internal error|this is a bug/);
  });
});
