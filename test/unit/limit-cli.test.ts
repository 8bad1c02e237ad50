import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cli } from "../cli-run.js";

/**
 * `--limit` on the verbs that reach devices, offline: every device's management address is a loopback listener that
 * records the connection and hangs up, so the test sees exactly which devices a verb tried to contact.
 */
const tmp = mkdtempSync(join(tmpdir(), "linkcrypt-limit-cli-"));
const names = ["fra-sw1", "ams-sw1", "lon-sw1", "fra-h1", "ams-h1", "lon-h1"] as const;
const servers: Server[] = [];
const portOf = new Map<string, number>();
const contacted = new Set<string>();
let inv = "";
let knownHosts = "";

beforeAll(async () => {
  for (const n of names) {
    const s = createServer((sock) => {
      contacted.add(n);
      sock.destroy();
    });
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    servers.push(s);
    portOf.set(n, (s.address() as { port: number }).port);
  }
  const management = (n: string) => `management: { address: 127.0.0.1, port: ${portOf.get(n)}, transport: ssh }`;
  const sw = (n: string, site: string) =>
    `  - { name: ${n}, kind: switch, site: ${site}, profile: arista-7280cr3mk-32p4, ${management(n)}, ` +
    "ports: [{ name: Ethernet1/1, speed: 100G, mtu: 8968 }, { name: Ethernet2/1, speed: 100G, mtu: 8968 }] }";
  const host = (n: string, site: string, ip: string) =>
    `  - { name: ${n}, kind: host, site: ${site}, profile: dell-r760-xeon-6430, ${management(n)}, addresses: { ipv4: ${ip} }, ` +
    "nics: [{ name: eth0, profile: mlx5-connectx-7, speed: 25G, mtu: 1500 }] }";
  inv = join(tmp, "inv.yaml");
  writeFileSync(
    inv,
    [
      "version: 1",
      "name: limit-test",
      "policy: default",
      "sites: [{ name: fra }, { name: ams }, { name: lon }]",
      "devices:",
      sw("fra-sw1", "fra"),
      sw("ams-sw1", "ams"),
      sw("lon-sw1", "lon"),
      host("fra-h1", "fra", "198.51.100.1"),
      host("ams-h1", "ams", "198.51.100.2"),
      host("lon-h1", "lon", "198.51.100.3"),
      "links:",
      '  - { name: fra-ams, a: "fra-sw1:Ethernet1/1", b: "ams-sw1:Ethernet1/1", medium: dark-fibre, speed: 100G, pathMtu: 9000 }',
      '  - { name: ams-lon, a: "ams-sw1:Ethernet2/1", b: "lon-sw1:Ethernet1/1", medium: dark-fibre, speed: 100G, pathMtu: 9000 }',
      "meshes:",
      '  - { name: m, members: { sites: [fra, ams, lon] }, mode: transport, pskMaster: "env:LINKCRYPT_TEST_NO_SUCH_MASTER" }',
      "",
    ].join("\n"),
  );
  knownHosts = join(tmp, "known_hosts");
  writeFileSync(knownHosts, "");
  writeFileSync(join(tmp, "ssh_config"), "");
});
beforeEach(() => contacted.clear());
afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  rmSync(tmp, { recursive: true, force: true });
});

const sorted = (xs: Iterable<string>) => [...xs].sort();
const run = (...argv: string[]) => cli(...argv, "--known-hosts", knownHosts, "--ssh-config", join(tmp, "ssh_config"));

describe("cli: --limit", () => {
  it("the inventory is valid, and without --limit verify contacts every switch and host", async () => {
    const r = await run("verify", inv, "--json");
    expect(r.code, r.err).toBe(1); // nothing is reachable
    expect(sorted(contacted)).toEqual(sorted(names));
    expect(JSON.parse(r.out).limit).toBeUndefined();
  });

  it("verify --limit LINK verifies that link only, contacts its two ends, and says what it left out", async () => {
    const r = await run("verify", inv, "--limit", "fra-ams", "--json");
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j.entries.map((e: { name: string }) => e.name)).toEqual(["fra-ams"]);
    expect(j.limit).toEqual({
      pattern: "fra-ams",
      limitedOut: { links: ["ams-lon"], pairs: ["m:ams-h1~fra-h1", "m:ams-h1~lon-h1", "m:fra-h1~lon-h1"] },
    });
    expect(sorted(contacted)).toEqual(["ams-sw1", "fra-sw1"]);
  });

  it("verify --limit 'h*,!lon' selects mesh pairs by host, and an excluded host is never contacted", async () => {
    const r = await run("verify", inv, "--limit", "*-h1,!lon", "--json");
    const j = JSON.parse(r.out);
    expect(j.entries.filter((e: { kind: string }) => e.kind === "pair").map((e: { name: string }) => e.name)).toEqual([
      "m:ams-h1~fra-h1",
      "m:ams-h1",
      "m:fra-h1",
    ]);
    expect(j.limit.limitedOut).toEqual({ links: ["fra-ams", "ams-lon"], pairs: ["m:ams-h1~lon-h1", "m:fra-h1~lon-h1"] });
    expect(sorted(contacted)).toEqual(["ams-h1", "fra-h1"]);
  });

  it("discover --limit SITE contacts that site's devices and both ends of its links, never an excluded one", async () => {
    let r = await run("discover", inv, "--limit", "ams", "--json");
    expect(r.code).toBe(1);
    expect(sorted(contacted)).toEqual(["ams-h1", "ams-sw1", "fra-sw1", "lon-sw1"]);
    let j = JSON.parse(r.out);
    expect(sorted(Object.keys(j.facts.devices))).toEqual(["ams-h1", "ams-sw1", "fra-sw1", "lon-sw1"]);
    expect(j.limit).toEqual({ pattern: "ams", limitedOut: { devices: ["fra-h1", "lon-h1"] } });

    contacted.clear();
    r = await run("discover", inv, "--limit", "ams,!lon-sw1", "--json");
    j = JSON.parse(r.out);
    expect(sorted(contacted)).toEqual(["ams-h1", "ams-sw1", "fra-sw1"]);
    expect(j.limit.limitedOut.devices).toEqual(["lon-sw1", "fra-h1", "lon-h1"]);
  });

  it("mesh status --limit narrows the members; --hosts and --limit must both pass", async () => {
    let r = await run("mesh", "status", inv, "--limit", "fra,lon", "--json");
    expect(r.code).toBe(1); // unreachable
    let j = JSON.parse(r.out);
    expect(sorted(j.hosts.map((h: { host: string }) => h.host))).toEqual(["fra-h1", "lon-h1"]);
    expect(j.limit).toEqual({ pattern: "fra,lon", limitedOut: { hosts: ["ams-h1"] } });
    expect(sorted(contacted)).toEqual(["fra-h1", "lon-h1"]);

    contacted.clear();
    r = await run("mesh", "status", inv, "--limit", "fra,lon", "--hosts", "lon-h1,ams-h1", "--json");
    j = JSON.parse(r.out);
    expect(j.hosts.map((h: { host: string }) => h.host)).toEqual(["lon-h1"]);
    expect(sorted(contacted)).toEqual(["lon-h1"]);
  });

  it("mesh verify --limit selects pairs: both hosts of each selected pair are read, other pairs are not reported", async () => {
    const r = await run("mesh", "verify", inv, "--limit", "fra-h1,!lon", "--json");
    expect(r.code).toBe(1); // unreachable
    const j = JSON.parse(r.out);
    expect(j.pairs.map((f: { a: string; b: string }) => `${f.a}~${f.b}`)).toEqual(["ams-h1~fra-h1"]);
    expect(j.limit).toEqual({ pattern: "fra-h1,!lon", limitedOut: { hosts: ["lon-h1"] } });
    expect(sorted(contacted)).toEqual(["ams-h1", "fra-h1"]);
  });

  it("a term that matches nothing exits 64 naming it, before any device is contacted", async () => {
    for (const argv of [
      ["verify", inv, "--limit", "fra,nosuch-*"],
      ["discover", inv, "--limit", "nosuch-*,fra"],
      ["mesh", "status", inv, "--limit", "nosuch-*"],
    ]) {
      const r = await run(...argv);
      expect(r.code, argv.join(" ")).toBe(64);
      expect(r.err).toContain('"nosuch-*" matches no link, device, site or host');
    }
    const j = await run("verify", inv, "--limit", "typo", "--json");
    expect(j.code).toBe(64);
    expect(JSON.parse(j.out).error.message).toMatch(/"typo" matches no/);
    expect(contacted.size).toBe(0);
  });

  it("malformed patterns and a limit that leaves a mesh no member are usage errors", async () => {
    for (const bad of ["", "!", "sw-[ab"]) expect((await run("verify", inv, "--limit", bad)).code, bad).toBe(64);
    const r = await run("mesh", "status", inv, "--limit", "fra-sw1");
    expect(r.code).toBe(64);
    expect(r.err).toContain("selects no member of mesh m");
    expect(contacted.size).toBe(0);
  });

  it("every verb that reaches devices offers --limit; apply and rotate offer --batch", async () => {
    for (const verb of [["discover"], ["verify"], ["apply"], ["rotate"], ["keys", "status"], ["mesh"]]) {
      const h = await cli(...verb, "--help");
      expect(h.out, verb.join(" ")).toContain("--limit <pattern>");
      expect(h.out, verb.join(" ")).toContain("--ssh-config <file>");
      expect(h.out.includes("--batch <n>"), verb.join(" ")).toBe(verb[0] === "apply" || verb[0] === "rotate");
    }
  });
});
