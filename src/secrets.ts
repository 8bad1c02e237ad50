import { spawnSync } from "node:child_process";
import { statSync } from "node:fs";
import { isAlias, isCollection, isPair, LineCounter, parseDocument, visit, type Document } from "yaml";
import { InputError } from "./errors.js";
import { readBounded } from "./util/read-bounded.js";

/** A secret, or the secrets file, is small: reading stops here (file:/dev/zero must not fill memory). */
const SECRET_MAX_BYTES = 1024 * 1024;

/** How long a `cmd:` secret's command may run (vault and sops answer in well under a second). */
export const SECRET_CMD_TIMEOUT_MS = 30_000;

/**
 * Resolves secret references: `env:VAR`, `file:/path` (the whole file, trailing newline trimmed),
 * `secrets:key` (a key in the secrets file, which must not be readable by group or others) and `cmd:COMMAND` (what
 * the command prints on stdout, one trailing newline trimmed: `cmd:vault kv get -field=psk secret/mesh`,
 * `cmd:sops -d --extract '["psk"]' secrets.enc.yaml`). Errors name the reference, never the value.
 */
export interface SecretSources {
  env: NodeJS.ProcessEnv;
  /** Path of the secrets file (YAML mapping of key -> value), if any. */
  secretsFile?: string;
  /** `cmd:` references: the command's time limit (default SECRET_CMD_TIMEOUT_MS). */
  cmdTimeoutMs?: number;
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
  if (kind === "cmd") return commandSecret(ref, name, src, device);
  throw new InputError(`secret reference "${ref.split(":")[0]}:…" is not env:, file: or secrets:, nor cmd:COMMAND`, ctx);
}

/**
 * Split a `cmd:` reference's command into argv, the way a shell would split words but with nothing else of a shell:
 * whitespace separates arguments, '…' and "…" quote (a backslash escapes the next character inside "…" and outside
 * quotes), and there are no variables, globs, pipes or redirections. Throws on an unclosed quote.
 */
export function splitCommand(command: string): string[] {
  const argv: string[] = [];
  let cur = "";
  let inWord = false;
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    if (c === "'" || c === '"') {
      const end = c === "'" ? command.indexOf("'", i + 1) : closingDouble(command, i + 1);
      if (end < 0) throw new Error(`unclosed ${c} quote`);
      const body = command.slice(i + 1, end);
      cur += c === "'" ? body : body.replace(/\\(.)/g, "$1");
      inWord = true;
      i = end;
    } else if (c === "\\" && i + 1 < command.length) {
      cur += command[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) argv.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) argv.push(cur);
  return argv;
}

function closingDouble(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    if (s[i] === "\\") i++;
    else if (s[i] === '"') return i;
  }
  return -1;
}

/**
 * `cmd:COMMAND`: run the command (argv from splitCommand; no shell, so `sh -c '…'` if one is wanted) with the
 * caller's environment, a time limit and bounded output, and return its stdout with one trailing newline trimmed.
 * A failure says which reference and why (not found, exit status, signal, time-out, no output) and never shows what
 * the command printed, on stdout or stderr: either can hold the secret.
 */
function commandSecret(ref: string, command: string, src: SecretSources, device?: string): string {
  const ctx = device ? { device, operation: "resolve secret" } : {};
  const fail = (why: string, cause?: unknown) =>
    new InputError(`${device ? `${device}: ` : ""}secret ${ref}: ${why}`, { ...ctx, ...(cause ? { cause } : {}) });
  let argv: string[];
  try {
    argv = splitCommand(command);
  } catch (e) {
    throw fail(`cannot split the command into arguments: ${(e as Error).message}`);
  }
  if (argv.length === 0) throw fail("no command given (cmd:COMMAND ARGS…)");
  const timeoutMs = src.cmdTimeoutMs ?? SECRET_CMD_TIMEOUT_MS;
  const r = spawnSync(argv[0]!, argv.slice(1), {
    env: src.env,
    stdio: ["ignore", "pipe", "pipe"],
    timeout: timeoutMs,
    killSignal: "SIGKILL",
    maxBuffer: SECRET_MAX_BYTES,
    windowsHide: true,
  });
  const stderrBytes = r.stderr?.length ?? 0;
  const stderrNote = stderrBytes
    ? `; it printed ${stderrBytes} bytes on stderr, not shown here (run the command yourself to read them)`
    : "";
  const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT") throw fail(`command "${argv[0]}" not found`);
  if (code === "ETIMEDOUT") throw fail(`"${argv[0]}" did not finish within ${timeoutMs} ms; stopped it`);
  if (code === "ENOBUFS") throw fail(`"${argv[0]}" printed more than ${SECRET_MAX_BYTES} bytes; stopped it`);
  if (r.error) throw fail(`cannot run "${argv[0]}": ${code ?? r.error.message}`);
  if (r.status !== 0)
    throw fail(`"${argv[0]}" failed (${r.status === null ? `signal ${r.signal}` : `exit status ${r.status}`})${stderrNote}`);
  const value = r.stdout.toString("utf8").replace(/\r?\n$/, "");
  if (value === "") throw fail(`"${argv[0]}" printed nothing on stdout${stderrNote}`);
  return value;
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
