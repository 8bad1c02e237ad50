import { existsSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { isAbsolute, join } from "node:path";
import SSHConfig from "ssh-config";
import { InputError } from "../errors.js";
import { readBounded } from "../util/read-bounded.js";

/**
 * OpenSSH client configuration (`~/.ssh/config`, ssh_config(5)), read with the `ssh-config` parser. linkcrypt takes
 * Host, HostName, User, Port, IdentityFile and ProxyJump from it; every other keyword is ignored, except that a
 * ProxyCommand is refused (linkcrypt runs no command, and connecting around it would be wrong).
 *
 * Inside the file OpenSSH's rule holds: the first value obtained for a keyword wins, so specific `Host` blocks go
 * before `Host *`. Between the inventory and the file, the inventory wins: its port and username are used when given,
 * and a credential reference is used instead of IdentityFile. The name matched against `Host` is the device's
 * management address (what `ssh ADDRESS` would be given), or its name when it has no address. `Match exec` is never
 * run, and `Include` is not followed.
 */
export interface SshConfigHost {
  /** The host to connect to: HostName (with %h expanded), else the name looked up. */
  hostname?: string;
  user?: string;
  port?: number;
  /** IdentityFile values in order, with ~ and %d %h %r %u %% expanded. */
  identityFiles: string[];
  /** ProxyJump hops in order ([user@]host[:port]); empty for none. */
  proxyJump: SshJumpSpec[];
}

export interface SshJumpSpec {
  host: string;
  user?: string;
  port?: number;
}

const cache = new Map<string, SSHConfig>();

/**
 * Which ssh_config file applies: `--ssh-config FILE`, else $LINKCRYPT_SSH_CONFIG, else ~/.ssh/config when it exists.
 * A file named explicitly must exist; undefined means no file.
 */
export function sshConfigPath(explicit: string | undefined, env: NodeJS.ProcessEnv, home = homedir()): string | undefined {
  const named = explicit ?? (env.LINKCRYPT_SSH_CONFIG || undefined);
  if (named !== undefined) {
    if (!existsSync(named))
      throw new InputError(`ssh config ${named} does not exist (${explicit !== undefined ? "--ssh-config" : "$LINKCRYPT_SSH_CONFIG"})`);
    return named;
  }
  const dflt = join(home, ".ssh", "config");
  return existsSync(dflt) ? dflt : undefined;
}

/** Parse (once per file) an ssh_config. Errors name the file. */
export function readSshConfig(file: string): SSHConfig {
  const hit = cache.get(file);
  if (hit) return hit;
  let text: string;
  try {
    text = readBounded(file, 1024 * 1024);
  } catch (e) {
    throw new InputError(`cannot read ssh config ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  let cfg: SSHConfig;
  try {
    cfg = SSHConfig.parse(text);
  } catch (e) {
    throw new InputError(`ssh config ${file} cannot be parsed: ${(e as Error).message}`, { cause: e });
  }
  cache.set(file, cfg);
  return cfg;
}

const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

/** Expand the ssh_config tokens linkcrypt supports (~ at the start, %d %h %r %u %p %%); any other %x is an error. */
export function expandTokens(
  s: string,
  t: { host: string; user?: string | undefined; port?: number | undefined },
  file: string,
  home = homedir(),
): string {
  const withHome = s.startsWith("~/") || s === "~" ? home + s.slice(1) : s;
  return withHome.replace(/%(.)/g, (_, c: string) => {
    if (c === "%") return "%";
    if (c === "d") return home;
    if (c === "h") return t.host;
    if (c === "r") return t.user ?? "";
    if (c === "u") return userInfo().username;
    if (c === "p") return String(t.port ?? 22);
    throw new InputError(`ssh config ${file}: token %${c} in "${s}" is not supported (only %d %h %r %u %p %%)`);
  });
}

function parsePort(v: string | undefined, file: string, host: string, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535)
    throw new InputError(`ssh config ${file}: Host ${host}: ${what} "${v}" is not a port (1-65535)`);
  return n;
}

/** One ProxyJump hop, "[user@]host[:port]" or an ssh:// URI. */
export function parseJump(spec: string, file: string, host: string): SshJumpSpec {
  let s = spec.trim();
  if (s.startsWith("ssh://")) s = s.slice(6).replace(/\/$/, "");
  const at = s.lastIndexOf("@");
  const user = at >= 0 ? s.slice(0, at) : undefined;
  let rest = at >= 0 ? s.slice(at + 1) : s;
  let port: number | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (v6) {
    rest = v6[1]!;
    port = parsePort(v6[2], file, host, "ProxyJump port");
  } else if (/^[^:]+:[^:]*$/.test(rest)) {
    const i = rest.indexOf(":");
    port = parsePort(rest.slice(i + 1), file, host, "ProxyJump port");
    rest = rest.slice(0, i);
  }
  if (!rest || /\s/.test(rest) || user === "")
    throw new InputError(`ssh config ${file}: Host ${host}: ProxyJump "${spec}" is not [user@]host[:port]`);
  return { host: rest, ...(user ? { user } : {}), ...(port ? { port } : {}) };
}

/** What the file says for `name` (first match wins, as in OpenSSH). */
export function sshConfigFor(file: string, name: string, inventory: { user?: string; port?: number } = {}): SshConfigHost {
  const c = readSshConfig(file).compute(name, { ignoreCase: true, matchExec: false });
  const rawHost = one(c.hostname);
  const user = one(c.user);
  const port = parsePort(one(c.port), file, name, "Port");
  const hostname = rawHost === undefined ? undefined : expandTokens(rawHost, { host: name }, file);
  const target = { host: hostname ?? name, user: inventory.user ?? user, port: inventory.port ?? port };
  const ids = c.identityfile === undefined ? [] : Array.isArray(c.identityfile) ? c.identityfile : [c.identityfile];
  const identityFiles = ids
    .filter((f) => f.toLowerCase() !== "none")
    .map((f) => expandTokens(f, target, file))
    .map((f) => (isAbsolute(f) ? f : join(homedir(), f)));
  const jump = one(c.proxyjump);
  // OpenSSH uses whichever of ProxyCommand and ProxyJump comes first; linkcrypt runs no command, so any ProxyCommand
  // that applies is refused rather than connected around.
  const proxyCommand = one(c.proxycommand);
  if (proxyCommand !== undefined && proxyCommand.toLowerCase() !== "none")
    throw new InputError(
      `ssh config ${file}: Host ${name} uses ProxyCommand, which linkcrypt does not run; use ProxyJump [user@]host[:port] instead`,
    );
  const proxyJump =
    jump === undefined || jump.toLowerCase() === "none"
      ? []
      : jump
          .split(",")
          .filter((s) => s.trim() !== "")
          .map((s) => parseJump(s, file, name));
  return {
    ...(hostname !== undefined ? { hostname } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(port !== undefined ? { port } : {}),
    identityFiles,
    proxyJump,
  };
}

/** The first IdentityFile that exists, read (a missing one is skipped, as OpenSSH does). */
export function firstIdentity(files: readonly string[]): { file: string; key: string } | undefined {
  for (const f of files) {
    if (!existsSync(f)) continue;
    try {
      return { file: f, key: readBounded(f, 64 * 1024) };
    } catch (e) {
      throw new InputError(`cannot read IdentityFile ${f}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
  }
  return undefined;
}
