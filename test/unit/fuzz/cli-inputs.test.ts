import fc from "fast-check";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidArgumentError } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { NUMERIC } from "../../../src/cli/numeric.js";
import { resolveSecret } from "../../../src/secrets.js";
import { DeviceLimiter } from "../../../src/transport/limiter.js";
import { cli } from "../../cli-run.js";
import { fuzz, fuzzAsync, nastyString } from "./fuzz.js";

const dir = mkdtempSync(join(tmpdir(), "lc-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every numeric option of every verb, with a command line that reaches option parsing. */
const OPTIONS: { verb: string[]; option: string; parse: (raw: string) => string }[] = [
  ...["--concurrency", "--per-device", "--per-device-interval", "--timeout"].map((option) => ({
    verb: ["discover", join(dir, "none.yaml")],
    option,
    parse: pick(option),
  })),
  ...[
    "--confirm-timeout",
    "--secured-timeout",
    "--max-fail-percent",
    "--concurrency",
    "--per-device",
    "--per-device-interval",
    "--per-site",
  ].map((option) => ({ verb: ["apply", join(dir, "none.json"), "--inventory", join(dir, "none.yaml")], option, parse: pick(option) })),
  { verb: ["rotate", "link", "x", "--inventory", join(dir, "none.yaml")], option: "--confirm-timeout", parse: NUMERIC.confirmTimeoutS() },
  ...["report", "metrics"].map((verb) => ({
    verb: [verb, join(dir, "none.yaml")],
    option: "--max-evidence-age",
    parse: NUMERIC.evidenceAgeH(),
  })),
];
function pick(option: string): (raw: string) => string {
  const m: Record<string, (raw: string) => string> = {
    "--concurrency": NUMERIC.concurrency(),
    "--per-device": NUMERIC.perDevice(),
    "--per-site": NUMERIC.perSite(),
    "--per-device-interval": NUMERIC.intervalMs(),
    "--timeout": NUMERIC.timeoutS(),
    "--confirm-timeout": NUMERIC.confirmTimeoutS(),
    "--secured-timeout": NUMERIC.securedTimeoutS(),
    "--max-fail-percent": NUMERIC.percent(),
  };
  return m[option]!;
}

describe("fuzz findings: numeric options", () => {
  for (const o of OPTIONS)
    it(`${o.verb[0]} ${o.option}: "", " ", 0x10, 1e308, Infinity and -1 are usage errors (exit 64) naming the option`, async () => {
      for (const bad of ["", " ", "0x10", "1e308", "Infinity", "-1", "NaN", "2147483648"]) {
        const r = await cli(...o.verb, o.option, bad);
        expect(r.code, `${o.option} ${JSON.stringify(bad)}`).toBe(64);
        expect(r.err).toContain(`option '${o.option} `);
      }
    });

  it("fractional counts are refused; fractional seconds are not", async () => {
    expect((await cli("discover", join(dir, "none.yaml"), "--concurrency", "1.5")).code).toBe(64);
    expect((await cli("apply", join(dir, "none.json"), "--inventory", "x", "--per-site", "2.5")).code).toBe(64);
    expect((await cli("discover", join(dir, "none.yaml"), "--timeout", "0.5")).code).toBe(1); // parsed; the inventory is missing
  });

  it("rotate --confirm-timeout is validated (it was not at all)", async () => {
    const r = await cli("rotate", "link", "x", "--inventory", join(dir, "none.yaml"), "--confirm-timeout", "abc");
    expect(r.code).toBe(64);
    expect(r.err).toMatch(/--confirm-timeout.*expected a whole number from 1 to 86400 s/);
  });

  it("discover --per-device-interval 0 is accepted, as apply accepts it", async () => {
    expect((await cli("discover", join(dir, "none.yaml"), "--per-device-interval", "0")).code).toBe(1);
    expect((await cli("apply", join(dir, "none.json"), "--inventory", join(dir, "none.yaml"), "--per-device-interval", "0")).code).toBe(1);
  });

  it("C-1: --per-device-interval 2147483648 is refused, and a long interval no longer keeps the limiter alive after the last job", async () => {
    expect((await cli("discover", join(dir, "none.yaml"), "--per-device-interval", "2147483648")).code).toBe(64);
    const l = new DeviceLimiter({ globalConcurrency: 2, perDeviceConcurrency: 1, perDeviceMinTimeMs: 3_600_000 });
    expect(await l.schedule("d1", async () => 7)).toBe(7);
    const t = performance.now();
    await l.stop();
    expect(performance.now() - t).toBeLessThan(1000);
  });
});

describe("fuzz findings: --json on an invalid inventory (I-4)", () => {
  for (const argv of [
    ["explain", "INV", "a", "b"],
    ["discover", "INV"],
    ["verify", "INV"],
    ["mesh", "status", "INV"],
    ["plan", "INV"],
    ["validate", "INV"],
  ])
    it(`${argv.slice(0, 2).join(" ")} --json prints the diagnostics as JSON`, async () => {
      const f = join(dir, "invalid.yaml");
      writeFileSync(f, "version: 1\nname: t\npolicy: nosuch\nsites: []\n");
      const r = await cli(...argv.map((a) => (a === "INV" ? f : a)), "--json");
      expect(r.code).toBe(1);
      const j = JSON.parse(r.out) as { valid: boolean; diagnostics: unknown[] };
      expect(j.valid).toBe(false);
      expect(j.diagnostics.length).toBeGreaterThan(0);
    });
});

describe("inputs that never end (/dev/zero) are refused naming the limit, not read into memory", () => {
  it.skipIf(!existsSync("/dev/zero"))("inventory, facts, plan and file: secret", async () => {
    const v = await cli("validate", "/dev/zero");
    expect(v.code).toBe(1);
    expect(v.out).toMatch(/larger than 67108864 bytes \(the limit for an input file\)/);
    const f = await cli("plan", "examples/mesh-lab.yaml", "--facts", "/dev/zero");
    expect(f.code).toBe(1);
    expect(f.out).toMatch(/larger than 67108864 bytes/);
    const a = await cli("apply", "/dev/zero", "--inventory", "examples/mesh-lab.yaml");
    expect(a.code).toBe(1);
    expect(a.err).toMatch(/larger than 67108864 bytes/);
    expect(() => resolveSecret("file:/dev/zero", { env: {} }, "sw1")).toThrowError(
      /sw1: secret file:\/dev\/zero: cannot read \/dev\/zero: .*larger than 1048576 bytes/,
    );
  });
});

describe("fuzz findings: terminal output", () => {
  it('control characters from the input are never echoed raw (policy: "de\\e[2J…")', async () => {
    const f = join(dir, "cc.yaml");
    writeFileSync(f, 'version: 1\nname: t\npolicy: "de\\e[2J\\x9b2Jx\\r"\nsites: []\ndevices: []\nlinks: []\nmeshes: []\n');
    const r = await cli("validate", f);
    expect(r.code).toBe(1);
    expect(r.out).toContain("de\\u001b[2J\\u009b2Jx\\u000d");
    expect(`${r.out}${r.err}`).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  });

  it("`plan … | head -1`: a closed stdout is not an EPIPE stack trace", async () => {
    const r = await new Promise<{ code: number | null; err: string }>((done) => {
      const c = spawn(process.execPath, ["bin/linkcrypt.js", "plan", "examples/three-site-mixed.yaml"], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      c.stdout.destroy(); // the reader is gone before anything is written
      let err = "";
      c.stderr.on("data", (d: Buffer) => (err += d.toString()));
      c.on("close", (code) => done({ code, err }));
    });
    expect(r.err).not.toMatch(/EPIPE|Unhandled 'error' event|\n\s+at /);
    expect(r.code).toBe(0);
  });
});

describe("fuzz: numeric CLI options", () => {
  const raw = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.constantFrom(
      "",
      " ",
      "0",
      "1",
      "0x10",
      "1e3",
      "1e308",
      "-0",
      "+5",
      "Infinity",
      "NaN",
      "2147483647",
      "2147483648",
      "3600000",
      "3600001",
      "86400",
      "86401",
      "100",
      "100.5",
      "0.0001",
      " 7",
      "7 ",
      "07",
      "1_000",
    ),
    fc.double().map(String),
    fc.integer({ min: -10, max: 5_000_000 }).map(String),
  );

  it("each parser: the text back with a value in range, or a usage error", () => {
    fuzz("numeric-options", fc.tuple(fc.constantFrom(...OPTIONS), raw), ([o, v]) => {
      try {
        expect(o.parse(v)).toBe(v);
        expect(Number.isFinite(Number(v))).toBe(true);
        expect(v).toMatch(/^[0-9]+(\.[0-9]+)?$/);
      } catch (e) {
        if (!(e instanceof InvalidArgumentError)) throw e;
      }
    });
  });

  it("through the CLI: exit 64 exactly when the parser refuses, never 70", async () => {
    await fuzzAsync(
      "numeric-options-cli",
      fc.tuple(fc.constantFrom(...OPTIONS), raw),
      async ([o, v]) => {
        let refused = false;
        try {
          o.parse(v);
        } catch {
          refused = true;
        }
        const r = await cli(...o.verb, o.option, v);
        expect(r.code).toBe(refused ? 64 : 1);
      },
      150,
    );
  });
});

describe("fuzz: command lines of the offline verbs", () => {
  it("validate, plan, explain, mtu, report and metrics with any arguments: exit 0, 1, 2 or 64, never 70", async () => {
    const invs = ["examples/mesh-lab.yaml", "examples/three-site-mixed.yaml", join(dir, "none.yaml"), "/dev/null", "examples"];
    const value = fc.oneof(
      fc.constantFrom(
        ...invs,
        "0",
        "-1",
        "1e9",
        "9216",
        "aes-gcm-128",
        "aes128gcm16",
        "chacha20poly1305",
        "sci",
        "nosci",
        "4",
        "6",
        "tunnel",
        "transport",
        "json",
        "md",
        "html",
        "graphite",
        "x",
        "toString",
        "__proto__",
        "",
      ),
      nastyString(12),
    );
    const option = fc.constantFrom(
      "--json",
      "--path-mtu",
      "--ip",
      "--mode",
      "--cipher",
      "--nat-t",
      "--macsec",
      "--vxlan",
      "--inner",
      "--format",
      "--prefix",
      "--facts",
      "--verify",
      "--profiles",
      "--max-evidence-age",
      "--mesh",
      "--bogus",
    );
    const argv = fc
      .tuple(
        fc.constantFrom("validate", "plan", "explain", "mtu", "report", "metrics"),
        fc.array(fc.oneof(option, value), { maxLength: 7 }),
      )
      .map(([verb, rest]) => (verb === "mtu" ? [verb, ...rest] : [verb, rest.find((x) => invs.includes(x)) ?? invs[0]!, ...rest]));
    await fuzzAsync(
      "cli-argv-offline",
      argv,
      async (args) => {
        const r = await cli(...args);
        expect([0, 1, 2, 64], `${JSON.stringify(args)}: ${r.err}`).toContain(r.code);
        expect(r.err).not.toMatch(/internal error/);
      },
      150,
    );
  });
});
