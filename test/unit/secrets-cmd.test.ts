import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InputError } from "../../src/errors.js";
import { SecretRef } from "../../src/model/inventory-schema.js";
import { resolveSecret, splitCommand } from "../../src/secrets.js";

const dir = mkdtempSync(join(tmpdir(), "lc-secrets-cmd-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = { PATH: process.env.PATH ?? "/usr/bin:/bin" };

function thrown(f: () => unknown): InputError {
  try {
    f();
  } catch (e) {
    return e as InputError;
  }
  throw new Error("did not throw");
}

describe("secrets: cmd:", () => {
  it("returns what the command prints, one trailing newline trimmed, with arguments split without a shell", () => {
    expect(resolveSecret("cmd:printf '%s\\n' s3cr3t", { env })).toBe("s3cr3t");
    // Only one newline goes: a value that itself ends in a newline keeps it.
    expect(resolveSecret("cmd:printf 'two\\n\\n'", { env })).toBe("two\n");
    // Quotes group, and nothing is expanded: no shell sees "$HOME" or the semicolon.
    expect(resolveSecret(`cmd:printf %s "a b \\$HOME; x"`, { env })).toBe("a b $HOME; x");
    expect(resolveSecret("cmd:sh -c 'echo $LC_T'", { env: { ...env, LC_T: "from-env" } })).toBe("from-env");
    const f = join(dir, "vault-like");
    writeFileSync(f, '#!/bin/sh\n[ "$1" = kv ] && [ "$3" = -field=psk ] && echo \'p@ss:word\' && exit 0\nexit 2\n', { mode: 0o700 });
    expect(resolveSecret(`cmd:${f} kv get -field=psk secret/mesh`, { env })).toBe("p@ss:word");
  });

  it("splits like a shell's words, and refuses an unclosed quote", () => {
    expect(splitCommand(`sops -d --extract '["psk"]'  f.yaml`)).toEqual(["sops", "-d", "--extract", '["psk"]', "f.yaml"]);
    expect(splitCommand(`a "b \\"c\\"" d\\ e ''`)).toEqual(["a", 'b "c"', "d e", ""]);
    expect(thrown(() => resolveSecret("cmd:printf 'x", { env })).message).toMatch(/cannot split.*unclosed ' quote/);
  });

  it("a non-zero exit is an error naming the reference and the status, never the output", () => {
    // The command prints "stdout-value" and "stderr-value", words its own text does not contain.
    const ref = "cmd:sh -c 'printf %s-%s stdout value; printf %s-%s stderr value >&2; exit 3'";
    const e = thrown(() => resolveSecret(ref, { env }, "sw1"));
    expect(e).toBeInstanceOf(InputError);
    expect(e.message).toContain(`sw1: secret ${ref}`);
    expect(e.message).toContain("exit status 3");
    expect(e.message).toContain("12 bytes on stderr, not shown");
    expect(e.message).not.toContain("stdout-value");
    expect(e.message).not.toContain("stderr-value");
    expect(String(e.cause ?? "")).not.toContain("-value");
    expect(thrown(() => resolveSecret("cmd:/nonexistent/linkcrypt-no-such-tool x", { env })).message).toMatch(
      /command "\/nonexistent\/linkcrypt-no-such-tool" not found/,
    );
    expect(thrown(() => resolveSecret("cmd:sh -c 'kill -9 $$'", { env })).message).toContain("signal SIGKILL");
  });

  it("a command that runs too long is stopped and reported", () => {
    const t0 = Date.now();
    const e = thrown(() => resolveSecret("cmd:sleep 5", { env, cmdTimeoutMs: 300 }));
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(e.message).toMatch(/secret cmd:sleep 5: "sleep" did not finish within 300 ms/);
  });

  it("empty output, or only a newline, is an error", () => {
    expect(thrown(() => resolveSecret("cmd:true", { env })).message).toMatch(/"true" printed nothing on stdout/);
    expect(thrown(() => resolveSecret("cmd:echo", { env })).message).toMatch(/printed nothing/);
    expect(thrown(() => resolveSecret("cmd:   ", { env })).message).toMatch(/no command given/);
  });

  it("the inventory accepts cmd: references with arguments, and still refuses a bare secret", () => {
    expect(SecretRef.safeParse("cmd:vault kv get -field=psk secret/mesh").success).toBe(true);
    expect(SecretRef.safeParse("cmd:").success).toBe(false);
    expect(SecretRef.safeParse("hunter2").success).toBe(false);
  });
});
