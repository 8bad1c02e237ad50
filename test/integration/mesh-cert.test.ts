import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { labDown, readLab } from "../../src/lab/lab.js";
import { cli } from "../cli-run.js";

/** A certificate mesh on a real 3-host lab: the lab CA issues each host's certificate, and every pair comes up. */
const root = mkdtempSync(join(tmpdir(), "lc-mesh-cert-"));
const dir = join(root, "lab");
afterAll(async () => labDown(dir));

describe("mesh: certificates from the inventory CA (real lab)", () => {
  it("issues host certificates, loads them over VICI, and brings up every pair", async () => {
    const host = (name: string, ip: string) => ({
      name,
      kind: "host",
      site: "dc",
      profile: "lab-netns-host",
      role: "app",
      addresses: { ipv4: ip },
      nics: [{ name: "eth0", profile: "virtio-net", speed: "10G", mtu: 1500 }],
    });
    const src = join(root, "certs.yaml");
    writeFileSync(
      src,
      stringify({
        version: 1,
        name: "certmesh",
        policy: "cnsa-1",
        sites: [{ name: "dc" }],
        devices: [host("c1", "192.0.2.1"), host("c2", "192.0.2.2"), host("c3", "192.0.2.3")],
        meshes: [
          {
            name: "m",
            members: { roles: ["app"] },
            mode: "transport",
            auth: "cert",
            ca: { cert: "file:/replaced/by/the/lab", key: "file:/replaced/by/the/lab" },
          },
        ],
      }),
    );
    const up = await cli("lab", "up", src, "--dir", dir);
    expect(up.code, up.out + up.err).toBe(0);
    const inv = join(dir, "inventory.yaml");
    const r = await cli("mesh", "deliver", inv, "--lab");
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/3\/3 pairs up/);
    const v = await cli("mesh", "verify", inv);
    expect(v.code, v.out).toBe(0);
    // each host holds its own certificate, issued by the lab CA for its name, and its key privately
    const h = readLab(dir)!.hosts.find((x) => x.name === "c2")!;
    const text = execFileSync("openssl", [
      "x509",
      "-noout",
      "-subject",
      "-issuer",
      "-ext",
      "subjectAltName",
      "-in",
      join(h.dir, "swanctl", "x509", "c2.crt"),
    ]).toString();
    expect(text).toMatch(/subject=CN\s*=\s*c2/);
    expect(text).toMatch(/issuer=CN\s*=\s*linkcrypt lab CA/);
    expect(text).toMatch(/DNS:c2/);
    expect(
      execFileSync("stat", ["-c", "%a", join(h.dir, "swanctl", "ecdsa", "c2.key")])
        .toString()
        .trim(),
    ).toBe("600");
    expect(readFileSync(join(h.dir, "swanctl", "conf.d", "linkcrypt-mesh.conf"), "utf8")).toMatch(
      /auth = pubkey\n\s+id = c2\n\s+certs = c2\.crt/,
    );
  });
});
