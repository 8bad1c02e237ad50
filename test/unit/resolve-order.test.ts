import { describe, expect, it } from "vitest";
import { host, load, port, sw } from "../helpers.js";

/**
 * resolveInventory runs its steps in a fixed order (the policy, unique names, devices, links, meshes), and reports
 * in that order, whatever the paths: these inventories put a mistake in every step and pin the sequence.
 */
const codes = (inv: Record<string, unknown>) => load(inv).diagnostics.map((d) => `${d.severity} ${d.code} ${d.path}`);

describe("model: resolve reports step by step", () => {
  it("policy, then duplicate names, then devices, links and meshes", () => {
    const inv = {
      version: 1,
      policy: "no-such-policy",
      sites: [{ name: "a" }, { name: "b" }, { name: "a" }],
      devices: [
        sw("a-sw", "c", "juniper-ptx10001-36mr", [port("et-0/0/0"), port("et-0/0/0")]),
        sw("b-sw", "b", "no-such-switch", [port("et-0/0/0")]),
        host("h1", "a", "no-such-nic"),
        host("h2", "a", "mlx5-connectx-6dx"),
        host("h3", "b", "mlx5-connectx-6dx"),
      ],
      links: [
        { name: "ab", a: "a-sw:et-0/0/0", b: "b-sw:et-0/0/0", medium: "dwdm", speed: "100G", pathMtu: 9216, eapolPassthrough: true },
        { name: "xa", a: "x-sw:et-0/0/0", b: "a-sw:et-0/0/0", medium: "dwdm", speed: "100G", pathMtu: 9216 },
      ],
      meshes: [
        { name: "m", members: { hosts: ["h2", "h3"] }, mode: "transport", auth: "cert" },
        { name: "m", members: { roles: ["dbx"] }, mode: "transport" },
      ],
    };
    expect(codes(inv)).toEqual([
      "error ref.policy policy",
      "error dup.name sites[2].name",
      "error dup.name meshes[1].name",
      "error ref.site devices[0].site",
      "error dup.port devices[0].ports[1].name",
      "error ref.profile devices[1].profile",
      "error ref.profile devices[2].nics[0].profile",
      "warning link.eapol-ignored links[0].eapolPassthrough",
      "error ref.device links[1].a",
      "error dup.endpoint links[1].b",
      "error mesh.ca-missing meshes[0].auth",
      "error mesh.selector-empty meshes[1].members.roles[0]",
      "error mesh.empty meshes[1].members",
    ]);
    expect(load(inv).model).toBeUndefined();
  });

  it("inside a link and a mesh: ends, speed, encryptors, policy; member references, selection, CA, ciphers", () => {
    const inv = {
      version: 1,
      policy: "cnsa-1",
      sites: [{ name: "a" }, { name: "b" }],
      devices: [
        sw("a-sw", "a", "juniper-ptx10001-36mr", [port("et-0/0/0"), port("Ethernet1", "10G")]),
        host("h1", "a", "mlx5-connectx-6dx"),
        host("h2", "b", "mlx5-connectx-6dx"),
      ],
      links: [
        {
          name: "loop",
          a: "a-sw:et-0/0/0",
          b: "a-sw:Ethernet1",
          medium: "dwdm",
          speed: "100G",
          pathMtu: 9216,
          encryptors: ["h1", "nobody"],
          method: "l1",
          macsecSuite: "GCM-AES-128",
          policy: { methods: ["macsec"], allowUnencrypted: true },
        },
      ],
      meshes: [
        {
          name: "m",
          members: { sites: ["z"], hosts: ["a-sw", "h1", "h2"] },
          mode: "transport",
          auth: "cert",
          ciphers: ["aes-gcm-128", "aes-gcm-256"],
        },
      ],
    };
    expect(codes(inv)).toEqual([
      "error link.loop links[0]",
      "error link.speed links[0].speed",
      "error ref.encryptor-kind links[0].encryptors[0]",
      "error ref.device links[0].encryptors[1]",
      "error policy.method links[0].method",
      "error policy.macsec-suite links[0].macsecSuite",
      "warning policy.override-unencrypted links[0].policy.allowUnencrypted",
      "error ref.site meshes[0].members.sites[0]",
      "error ref.member-kind meshes[0].members.hosts[0]",
      "error mesh.empty meshes[0].members",
      "error mesh.ca-missing meshes[0].auth",
      "error policy.cipher meshes[0].ciphers[0]",
    ]);
  });

  it("a clean inventory resolves to a model with every step's result", () => {
    const r = load({
      version: 1,
      name: "clean",
      policy: "default",
      sites: [{ name: "a" }, { name: "b" }],
      devices: [
        sw("a-sw", "a", "juniper-ptx10001-36mr", [port("et-0/0/0")]),
        sw("b-sw", "b", "juniper-ptx10001-36mr", [port("et-0/0/0")]),
        host("h2", "b", "mlx5-connectx-6dx"),
        host("h1", "a", "mlx5-connectx-6dx"),
      ],
      links: [{ name: "ab", a: "a-sw:et-0/0/0", b: "b-sw:et-0/0/0", medium: "dwdm", speed: "100G", pathMtu: 9216 }],
      meshes: [{ name: "m", members: { sites: ["a", "b"] }, mode: "transport", ciphers: ["aes-gcm-256"] }],
    });
    expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
    const m = r.model!;
    expect([m.name, m.policyName, m.policy.name, m.sites]).toEqual(["clean", "default", "default", ["a", "b"]]);
    expect([...m.switches.keys()]).toEqual(["a-sw", "b-sw"]);
    expect([...m.hosts.keys()]).toEqual(["h2", "h1"]);
    expect(m.links.map((l) => [l.name, l.a.device, l.b.device, l.speedBps, l.methods])).toEqual([
      ["ab", "a-sw", "b-sw", 100e9, m.policy.methods],
    ]);
    expect(m.meshes.map((x) => [x.name, x.hosts.map((h) => h.name), x.ciphers])).toEqual([["m", ["h1", "h2"], ["aes-gcm-256"]]]);
  });
});
