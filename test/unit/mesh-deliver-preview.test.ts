import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CONF_FILE, previewMeshDelivery, STATE_FILE } from "../../src/mesh/deliver.js";
import type { HostAccess } from "../../src/mesh/host-access.js";
import { meshConnSpecs, meshShuntSpecs } from "../../src/planner/conn-spec.js";
import type { ViciClient } from "../../src/transport/vici.js";
import { plan } from "../helpers.js";

const mesh = plan(readFileSync("examples/mesh-lab.yaml", "utf8")).meshes[0]!;
const golden = (h: string) => readFileSync(`test/golden/swanctl/mesh-lab--${h}.conf`, "utf8");
/** The record deliverMesh keeps of each connection it loaded (src/mesh/deliver.ts, STATE_FILE). */
const hash = (c: object) => createHash("sha256").update(JSON.stringify(c)).digest("hex").slice(0, 16);

/** A host whose files are a map; any write fails the test, and charon is reachable only if `vici` is given. */
function host(name: string, files: Record<string, string>, vici?: () => ViciClient): HostAccess {
  return {
    name,
    confDir: "/etc/swanctl/conf.d",
    vici: async () => {
      if (!vici) throw new Error(`${name}: the preview asked charon`);
      return vici();
    },
    readFile: async (p) => files[p],
    writeFile: async (p) => {
      throw new Error(`${name}: the preview wrote ${p}`);
    },
  };
}
const CONF = join("/etc/swanctl/conf.d", CONF_FILE);
const STATE = join("/etc/swanctl/conf.d", STATE_FILE);

describe("mesh: delivery dry run (previewMeshDelivery)", () => {
  it("on fresh hosts: the whole file as delivery would write it (byte-equal to the golden), every connection to load, nothing written", async () => {
    const names = mesh.members.map((m) => m.name);
    const r = await previewMeshDelivery(
      mesh,
      names.map((n) => host(n, {})),
      { kind: "psk" },
    );
    expect(r.map((p) => p.host)).toEqual(names);
    for (const p of r) {
      expect(p.rendered).toBe(golden(p.host));
      expect(p.confPath).toBe(CONF);
      expect(p.diff).toEqual(
        p.rendered
          .split("\n")
          .filter(Boolean)
          .map((l) => `+ ${l}`),
      );
      const specs = meshConnSpecs(mesh, p.host);
      expect(p.load.sort()).toEqual([...specs, ...meshShuntSpecs(specs)].map((c) => c.name).sort());
      expect(p.unload).toEqual([]);
      expect(p.unchanged).toEqual([]);
      expect(p.secretsLoad).toHaveLength(specs.length);
      expect(p.secretsLoad.every((id) => id.startsWith("ike-"))).toBe(true);
      expect(p.error).toBeUndefined();
    }
  });

  it("after a delivery: no diff, nothing to load; a departed peer's connections and PSK id are to be unloaded", async () => {
    const specs = meshConnSpecs(mesh, "app1");
    const shunts = meshShuntSpecs(specs);
    const conns = Object.fromEntries([...specs, ...shunts].map((c) => [c.name, hash(c)]));
    conns["mesh-gone"] = "0123456789abcdef";
    conns["block-gone"] = "0123456789abcdef";
    const [p] = await previewMeshDelivery(
      mesh,
      [host("app1", { [CONF]: golden("app1"), [STATE]: JSON.stringify({ conns, secrets: ["ike-app1-gone"] }) })],
      { kind: "psk" },
    );
    expect(p!.diff).toEqual([]);
    expect(p!.load).toEqual([]);
    expect(p!.unchanged.sort()).toEqual(specs.map((s) => s.name).sort());
    expect(p!.unload).toEqual(["block-gone", "mesh-gone"]);
    expect(p!.secretsUnload).toEqual(["ike-app1-gone"]);
  });

  it("a changed connection is to be loaded again, and the file diff shows the lines that change", async () => {
    const specs = meshConnSpecs(mesh, "app1");
    const conns = Object.fromEntries([...specs, ...meshShuntSpecs(specs)].map((c) => [c.name, hash(c)]));
    const first = specs[0]!.name;
    conns[first] = "ffffffffffffffff";
    const old = golden("app1").replace(/remote_addrs = 198\.51\.100\.2$/m, "remote_addrs = 192.0.2.99");
    const [p] = await previewMeshDelivery(mesh, [host("app1", { [CONF]: old, [STATE]: JSON.stringify({ conns, secrets: [] }) })], {
      kind: "cert",
    });
    expect(p!.load).toEqual([first]);
    expect(p!.diff).toEqual(["-     remote_addrs = 192.0.2.99", "+     remote_addrs = 198.51.100.2"]);
    expect(p!.secretsLoad).toEqual([]);
  });

  it("with vici: charon is asked read-only (version, list-conns, get-shared) and what it has loaded decides", async () => {
    const asked: string[] = [];
    let closed = 0;
    const specs = meshConnSpecs(mesh, "db1");
    const conns = Object.fromEntries([...specs, ...meshShuntSpecs(specs)].map((c) => [c.name, hash(c)]));
    const fake = {
      request: async (cmd: string) => {
        asked.push(cmd);
        return cmd === "version" ? { version: "5.9.8" } : { keys: [] };
      },
      stream: async (cmd: string) => {
        asked.push(cmd);
        // charon lost everything but one shunt (a restart): the record alone would say "unchanged"
        return { events: [{ [`block-${specs[0]!.peer}`]: {} }], response: {} };
      },
      close: () => void closed++,
    } as unknown as ViciClient;
    const [p] = await previewMeshDelivery(
      mesh,
      [host("db1", { [CONF]: golden("db1"), [STATE]: JSON.stringify({ conns, secrets: ["ike-db1-old"] }) }, () => fake)],
      { kind: "psk" },
      { vici: true },
    );
    expect(asked.sort()).toEqual(["get-shared", "list-conns", "version"]);
    expect(closed).toBe(1);
    expect(p!.unchanged).toEqual([]);
    expect(p!.load).toHaveLength(specs.length * 2 - 1);
    expect(p!.secretsUnload).toEqual([]); // charon holds no such PSK any more
  });

  it("with vici and charon down: the file diff is still given, with the error", async () => {
    const [p] = await previewMeshDelivery(
      mesh,
      [
        host("app2", {}, () => {
          throw new Error("connect ENOENT /var/run/charon.vici");
        }),
      ],
      { kind: "psk" },
      { vici: true },
    );
    expect(p!.error).toMatch(/ENOENT/);
    expect(p!.rendered).toBe(golden("app2"));
  });
});
