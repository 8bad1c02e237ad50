import { statSync } from "node:fs";
import { isAlias, isCollection, isPair, LineCounter, parseDocument, visit, type Document } from "yaml";
import { InputError } from "./errors.js";
import { readBounded } from "./model/read-bounded.js";

/** A secret, or the secrets file, is small: reading stops here (file:/dev/zero must not fill memory). */
const SECRET_MAX_BYTES = 1024 * 1024;

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
    if (v === undefined || v === "")
      throw new InputError(`${device ? `${device}: ` : ""}secret ${ref}: environment variable ${name} is not set`, ctx);
    return v;
  }
  if (kind === "file") {
    try {
      return readBounded(name, SECRET_MAX_BYTES).replace(/\r?\n$/, "");
    } catch (e) {
      throw new InputError(
        `${device ? `${device}: ` : ""}secret ${ref}: cannot read ${name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
        { ...ctx, cause: e },
      );
    }
  }
  if (kind === "secrets") {
    if (!src.secretsFile) throw new InputError(`${device ? `${device}: ` : ""}secret ${ref}: no secrets file given (--secrets FILE)`, ctx);
    if (cachedFile?.path !== src.secretsFile) {
      let text: string;
      try {
        const mode = statSync(src.secretsFile).mode & 0o077;
        if (mode !== 0)
          throw new InputError(
            `secrets file ${src.secretsFile} is readable by group or others (mode ${(statSync(src.secretsFile).mode & 0o777).toString(8)}); chmod 600 it`,
            ctx,
          );
        text = readBounded(src.secretsFile, SECRET_MAX_BYTES);
      } catch (e) {
        if (e instanceof InputError) throw e;
        throw new InputError(`cannot read secrets file ${src.secretsFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
          ...ctx,
          cause: e,
        });
      }
      cachedFile = { path: src.secretsFile, data: parseSecretsText(src.secretsFile, text, ctx) };
    }
    const v = Object.hasOwn(cachedFile.data, name) ? cachedFile.data[name] : undefined;
    if (typeof v !== "string" || v === "")
      throw new InputError(`${device ? `${device}: ` : ""}secret ${ref}: no key "${name}" in ${src.secretsFile}`, ctx);
    return v;
  }
  throw new InputError(`secret reference "${ref.split(":")[0]}:…" is not env:, file: or secrets:`, ctx);
}

/** A secrets file needs no more aliases than this; more is refused (a billion-laughs file). */
export const SECRETS_MAX_ALIASES = 100;

/**
 * Parse the secrets file. Every error says where (line and column) and what kind, and never quotes the file: the
 * yaml library's messages echo the offending line or an alias's name, and either can be a secret.
 */
export function parseSecretsText(file: string, text: string, ctx: { device?: string; operation?: string } = {}): Record<string, unknown> {
  const lc = new LineCounter();
  const at = (offset: number | undefined) => {
    if (offset === undefined) return "";
    const p = lc.linePos(offset);
    return ` at line ${p.line}, column ${p.col}`;
  };
  const refuse = (why: string, cause?: unknown) =>
    new InputError(`secrets file ${file} ${why}; its contents are not shown`, {
      ...ctx,
      ...(cause === undefined ? {} : { cause: new Error(String((cause as { code?: string })?.code ?? "YAML error")) }),
    });
  let doc: Document;
  try {
    doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  } catch (e) {
    throw refuse("cannot be parsed as YAML", e);
  }
  const bad = doc.errors[0];
  if (bad) throw refuse(`is not valid YAML${at(bad.pos[0])} (${bad.code})`, bad);
  let aliases = 0;
  let unresolved: number | undefined;
  visit(doc, {
    Alias(_, node) {
      aliases++;
      if (unresolved === undefined && !node.resolve(doc)) unresolved = node.range?.[0] ?? 0;
    },
  });
  if (unresolved !== undefined) throw refuse(`has an alias with no anchor before it${at(unresolved)}`);
  if (aliases > SECRETS_MAX_ALIASES) throw refuse(`has ${aliases} aliases, more than the limit of ${SECRETS_MAX_ALIASES}`);
  const root = doc.contents;
  if (root !== null && (!isCollection(root) || !("items" in root) || root.items.some((i) => !isPair(i)) || isAlias(root)))
    throw refuse("must be a YAML mapping of key: value");
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: SECRETS_MAX_ALIASES });
  } catch (e) {
    throw refuse("cannot be read", e);
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== "object" || Array.isArray(data)) throw refuse("must be a YAML mapping of key: value");
  return data as Record<string, unknown>;
}
