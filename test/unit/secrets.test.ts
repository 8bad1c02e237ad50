import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import { resolveSecret } from "../../src/secrets.js";

const dir = mkdtempSync(join(tmpdir(), "lc-secrets-"));

describe("secrets", () => {
  it("resolves env:, file: and secrets: references", () => {
    writeFileSync(join(dir, "k"), "s3cr3t-file\n");
    const sf = join(dir, "secrets.yaml");
    writeFileSync(sf, "cak-ams: 'aa00'\n", { mode: 0o600 });
    chmodSync(sf, 0o600);
    expect(resolveSecret("env:LC_T", { env: { LC_T: "from-env" } })).toBe("from-env");
    expect(resolveSecret(`file:${join(dir, "k")}`, { env: {} })).toBe("s3cr3t-file");
    expect(resolveSecret("secrets:cak-ams", { env: {}, secretsFile: sf })).toBe("aa00");
  });

  it("refuses a secrets file others can read, and never prints a value in an error", () => {
    const sf = join(dir, "open.yaml");
    writeFileSync(sf, "k: 'do-not-print'\n");
    chmodSync(sf, 0o644);
    const e = (() => {
      try {
        resolveSecret("secrets:k", { env: {}, secretsFile: sf });
      } catch (x) {
        return x as InputError;
      }
    })()!;
    expect(e).toBeInstanceOf(InputError);
    expect(e.message).toMatch(/readable by group or others .*chmod 600/);
    expect(e.message).not.toContain("do-not-print");
  });

  it("names the missing reference", () => {
    expect(() => resolveSecret("env:NOPE_LC", { env: {} }, "sw1")).toThrowError(
      "sw1: secret env:NOPE_LC: environment variable NOPE_LC is not set",
    );
    expect(() => resolveSecret("vault:x", { env: {} })).toThrowError(/not env:, file: or secrets:/);
  });
});
