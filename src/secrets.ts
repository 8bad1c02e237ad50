import { readFileSync, statSync } from "node:fs";
import { parse } from "yaml";
import { InputError } from "./errors.js";

/**
 * Resolves secret references: `env:VAR`, `file:/path` (the whole file, trailing newline trimmed) and
 * `secrets:key` (a key in the secrets file, which must not be readable by group or others). Errors name the
 * reference, never the value.
 */
export interface SecretSources {
  env: NodeJS.ProcessEnv;
  /** Path of the secrets file (YAML mapping of key -> value), if any. */
  secretsFile?: string;
}

let cachedFile: { path: string; data: Record<string, unknown> } | undefined;

export function resolveSecret(ref: string, src: SecretSources, device?: string): string {
  const ctx = device ? { device, operation: "resolve secret" } : {};
  const [kind, ...rest] = ref.split(":");
  const name = rest.join(":");
  if (kind === "env") {
    const v = src.env[name];
    if (v === undefined || v === "") throw new InputError(`${device ? `${device}: ` : ""}secret ${ref}: environment variable ${name} is not set`, ctx);
    return v;
  }
  if (kind === "file") {
    try {
      return readFileSync(name, "utf8").replace(/\r?\n$/, "");
    } catch (e) {
      throw new InputError(`${device ? `${device}: ` : ""}secret ${ref}: cannot read ${name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { ...ctx, cause: e });
    }
  }
  if (kind === "secrets") {
    if (!src.secretsFile) throw new InputError(`${device ? `${device}: ` : ""}secret ${ref}: no secrets file given (--secrets FILE)`, ctx);
    if (cachedFile?.path !== src.secretsFile) {
      let text: string;
      try {
        const mode = statSync(src.secretsFile).mode & 0o077;
        if (mode !== 0) throw new InputError(`secrets file ${src.secretsFile} is readable by group or others (mode ${(statSync(src.secretsFile).mode & 0o777).toString(8)}); chmod 600 it`, ctx);
        text = readFileSync(src.secretsFile, "utf8");
      } catch (e) {
        if (e instanceof InputError) throw e;
        throw new InputError(`cannot read secrets file ${src.secretsFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { ...ctx, cause: e });
      }
      cachedFile = { path: src.secretsFile, data: (parse(text) ?? {}) as Record<string, unknown> };
    }
    const v = cachedFile.data[name];
    if (typeof v !== "string" || v === "") throw new InputError(`${device ? `${device}: ` : ""}secret ${ref}: no key "${name}" in ${src.secretsFile}`, ctx);
    return v;
  }
  throw new InputError(`secret reference "${ref.split(":")[0]}:…" is not env:, file: or secrets:`, ctx);
}
