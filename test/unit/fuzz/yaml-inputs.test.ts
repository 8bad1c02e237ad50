import fc from "fast-check";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InputError } from "../../../src/errors.js";
import { parseInventory } from "../../../src/model/load-inventory.js";
import { parseSecretsText, resolveSecret } from "../../../src/secrets.js";
import { SshConnection } from "../../../src/transport/ssh.js";
import { cli } from "../../cli-run.js";
import { profiles } from "../../helpers.js";
import { fuzz, nastyString, returnsOrTyped } from "./fuzz.js";

const dir = mkdtempSync(join(tmpdir(), "lc-yaml-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string, mode = 0o600) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
};

describe("fuzz findings: inventory YAML", () => {
  it("I-1: an unresolved alias is a diagnostic with its position, exit 1 (not 70)", async () => {
    const r = await cli("validate", file("i1.yaml", "version: 1\nname: *nowhere\n"));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/alias \*nowhere has no anchor before it {2}\(.*i1\.yaml:2:7\)/);
  });

  it("I-2: too many aliases is refused naming the limit, exit 1", async () => {
    const r = await cli("validate", file("i2.yaml", `version: 1\nx: &a 1\nlist: [${Array(1200).fill("*a").join(", ")}]\n`));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/has 1200 aliases, more than the limit of 1000/);
  });

  it("I-3: alias amplification is refused before anything expands it (1 MB aliased 560 times), quickly and exit 1", async () => {
    const t = performance.now();
    const r = await cli(
      "validate",
      file("i3.yaml", `version: 1\na: &a ${"x".repeat(1_000_000)}\nb: [${Array(560).fill("*a").join(",")}]\n`),
    );
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/aliases expand to more than 16777216 characters \(the limit/);
    expect(performance.now() - t).toBeLessThan(5000);
    const lol = [
      "a0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]",
      ...Array.from({ length: 9 }, (_, i) => `a${i + 1}: &a${i + 1} [${Array(9).fill(`*a${i}`).join(",")}]`),
    ].join("\n");
    expect((await cli("plan", file("lol.yaml", `version: 1\n${lol}\n`))).code).toBe(1);
  });

  it("YAML nested thousands deep is a diagnostic, not a stack overflow", async () => {
    for (const text of [
      `version: 1\nname: ${"[".repeat(5000)}${"]".repeat(5000)}\n`,
      `version: 1\nx: ${"{a: ".repeat(3000)}1${"}".repeat(3000)}\n`,
    ]) {
      const r = await cli("validate", file("deep.yaml", text));
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/nested too deeply to read/);
    }
  });

  it("an alias that contains itself is refused (a cycle would hang or overflow later)", async () => {
    const r = await cli("plan", file("cyc.yaml", "version: 1\nname: t\nsites: &s [{ name: a, x: *s }]\n"));
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/alias \*s refers to a node that contains it/);
  });
});

describe("fuzz findings: secrets file", () => {
  const SECRET = "TOPSECRET-9f8e7d";
  for (const [what, text] of [
    ["S-1/F-5: a YAML syntax error on the secret's line", `dev-auth: [unclosed ${SECRET}\n`],
    ["S-1: an unresolved alias whose name is the secret", `dev-auth: *${SECRET}\n`],
    ["a duplicate key", `dev-auth: a\ndev-auth: ${SECRET}\n`],
    ["a list instead of a mapping", `- ${SECRET}\n`],
    ["a bare scalar", `${SECRET}\n`],
  ] as const)
    it(`${what}: a typed error that never shows the file's contents`, () => {
      const p = file(`s-${what.length}.yaml`, text);
      const e = (() => {
        try {
          return resolveSecret("secrets:dev-auth", { env: {}, secretsFile: p }, "sw1");
        } catch (x) {
          return x;
        }
      })();
      expect(e).toBeInstanceOf(InputError);
      expect((e as InputError).device).toBe("sw1");
      expect(`${(e as Error).message} ${String((e as Error).cause ?? "")}`).not.toContain(SECRET);
      expect((e as Error).message).toMatch(/contents are not shown/);
    });

  it("S-1 end to end: discover prints no secret for a malformed secrets file", async () => {
    const inv = file(
      "s1-inv.yaml",
      "version: 1\nname: s1\npolicy: default\nsites: [{ name: a1 }]\ndevices:\n" +
        "  - { name: a1-enc, kind: l1-encryptor, site: a1, profile: thales-cn9120, " +
        'management: { address: 127.0.0.1, port: 9, transport: snmp, snmpVersion: "3" }, ' +
        'credentials: { username: u, secret: "secrets:auth", privSecret: "secrets:priv" } }\nlinks: []\nmeshes: []\n',
    );
    const sec = file("s1-sec.yaml", `auth: [unclosed ${SECRET}\npriv: *${SECRET}\n`);
    const out = file("s1-facts.json", "");
    const r = await cli("discover", inv, "--secrets", sec, "--timeout", "1", "--out", out, "--json");
    expect(r.code).toBe(1);
    expect(`${r.out}${r.err}`).not.toContain(SECRET);
    expect(`${r.out}${r.err}`).toMatch(/not valid YAML at line \d+, column \d+/);
  });

  it("S-3: a malformed OpenSSH private key is an InputError naming the device, not E_INTERNAL", async () => {
    const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----\n";
    const e = await SshConnection.connect({
      device: "sw1",
      host: "127.0.0.1",
      port: 9,
      username: "u",
      privateKey: key,
      knownHostsFile: join(dir, "kh"),
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InputError);
    expect((e as InputError).device).toBe("sw1");
    expect((e as Error).message).toMatch(/^sw1: the SSH credential for u@127\.0\.0\.1 cannot be used/);
    expect((e as Error).message).not.toContain("bm90IGEga2V5");
  });

  it("a key named toString or __proto__ is looked up as a key, not an inherited property", () => {
    const p = file("proto.yaml", "a: b\n");
    expect(() => resolveSecret("secrets:toString", { env: {}, secretsFile: p })).toThrowError(/no key "toString"/);
    expect(() => resolveSecret("secrets:__proto__", { env: {}, secretsFile: p })).toThrowError(/no key "__proto__"/);
  });
});

describe("fuzz: inventory YAML and the secrets file", () => {
  const yamlish = fc
    .array(
      fc.oneof(
        fc.constantFrom(
          "version: 1\n",
          "name: t\n",
          "policy: default\n",
          "sites: [{ name: a }]\n",
          "devices:\n",
          "  - ",
          "{ name: ",
          "toString",
          "__proto__",
          "constructor",
          "&a ",
          "*a",
          "*b",
          "<<: *a\n",
          "[",
          "]",
          "{",
          "}",
          ", ",
          ": ",
          "\n",
          "  ",
          "- ",
          "!!binary ",
          "!!str ",
          "? ",
          "|\n",
          "'",
          '"',
          "#",
          "---\n",
          "...\n",
          "%YAML 1.2\n",
          "links: []\n",
          "meshes: []\n",
        ),
        nastyString(12),
      ),
      { maxLength: 40 },
    )
    .map((a) => a.join(""));

  it("parseInventory on any text returns diagnostics and never throws", () => {
    const p = profiles();
    fuzz("inventory-yaml", yamlish, (text) => {
      const r = returnsOrTyped(() => parseInventory("fuzz.yaml", text, p));
      if (!(r instanceof Error)) expect(Array.isArray(r.diagnostics)).toBe(true);
    });
  });

  it("the secrets file: a mapping or an InputError that does not quote the file", () => {
    const MARK = "ZQXSECRETZQX";
    fuzz(
      "secrets-file",
      yamlish.map((t) => t.replace(/a/g, MARK)),
      (text) => {
        const r = returnsOrTyped(() => parseSecretsText("s.yaml", text));
        if (r instanceof Error) {
          expect(r).toBeInstanceOf(InputError);
          expect(r.message).not.toContain(MARK);
        } else expect(typeof r).toBe("object");
      },
    );
  });
});

describe("fuzz: inventories near a real one", () => {
  it("any one to three value mutations of examples/three-site-mixed.yaml validate and plan, or give diagnostics: never a throw", async () => {
    const { parse, stringify } = await import("yaml");
    const { buildPlan, digest } = await import("../../../src/planner/build-plan.js");
    const base = parse(readFileSync("examples/three-site-mixed.yaml", "utf8")) as unknown;
    const p = profiles();
    const mutate = (start: unknown, path: number[], value: unknown, remove: boolean): unknown => {
      const copy = structuredClone(start) as Record<string, unknown>;
      let node: Record<string | number, unknown> = copy;
      for (let i = 0; i < path.length; i++) {
        const keys: (string | number)[] = Array.isArray(node) ? node.map((_, j) => j) : Object.keys(node);
        if (!keys.length) break;
        const k = keys[path[i]! % keys.length]!;
        const child = node[k];
        if (i === path.length - 1 || child === null || typeof child !== "object") {
          if (remove && !Array.isArray(node)) delete node[k];
          else node[k] = value;
          break;
        }
        node = child as Record<string | number, unknown>;
      }
      return copy;
    };
    const value = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom("toString", "__proto__", "constructor", "", "10G", "100G", "dwdm", "macsec", 0, -1, 9216, 1e9, null, [], {}),
    );
    const edit = fc.tuple(fc.array(fc.nat(), { minLength: 1, maxLength: 5 }), value, fc.boolean());
    fuzz(
      "inventory-mutation",
      fc.array(edit, { minLength: 1, maxLength: 3 }),
      (edits) => {
        const text = stringify(edits.reduce<unknown>((doc, [path, v, remove]) => mutate(doc, path, v, remove), base));
        const r = returnsOrTyped(() => parseInventory("m.yaml", text, p));
        if (r instanceof Error || !r.model) return;
        returnsOrTyped(() => buildPlan(r.model!, { inventoryDigest: digest(r.data), profilesDigest: "x" }, r.diagnostics));
      },
      300,
    );
  });
});
