import { userInfo } from "node:os";
import type { DeviceEntry } from "../model/inventory-schema.js";
import { resolveSecret, type SecretSources } from "../secrets.js";
import type { SshHop, SshOptions } from "../transport/ssh.js";
import { firstIdentity, sshConfigFor, sshConfigPath } from "../transport/ssh-config.js";

/** What sshTarget needs of the access options (src/devices/device-access.ts). */
export interface SshTargetOptions {
  knownHostsFile: string;
  acceptNewHostKey: boolean;
  secrets: SecretSources;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /** --ssh-config; when absent $LINKCRYPT_SSH_CONFIG (from `secrets.env`), else ~/.ssh/config if it exists. */
  sshConfigFile?: string;
}

/**
 * Where and how to reach a device over SSH. The management address (or, without one, the device name) is looked up
 * as a `Host` in the OpenSSH client config (src/transport/ssh-config.ts); the inventory wins over the file:
 *
 * - host: the file's HostName, else the management address;
 * - port: the inventory's, else the file's Port, else 22 (830 for NETCONF);
 * - user: the credential's username, else the file's User, else "linkcrypt";
 * - authentication: the credential reference if there is one (password or private key), else the agent
 *   ($SSH_AUTH_SOCK) and the first IdentityFile that exists;
 * - ProxyJump: each hop in order, with what the file says for that hop (HostName, User, Port, IdentityFile) and the
 *   agent; a hop's own ProxyJump is not followed, so list every hop in the device's ProxyJump.
 */
export function sshTarget(d: DeviceEntry, o: SshTargetOptions): SshOptions {
  const m = d.management!;
  const agent = o.secrets.env.SSH_AUTH_SOCK ? { agent: o.secrets.env.SSH_AUTH_SOCK } : {};
  const secret = d.credentials ? resolveSecret(d.credentials.secret, o.secrets, d.name) : undefined;
  const file = sshConfigPath(o.sshConfigFile, o.secrets.env);
  const invUser = d.credentials?.username;
  const c = file
    ? sshConfigFor(file, m.address ?? d.name, { ...(invUser ? { user: invUser } : {}), ...(m.port ? { port: m.port } : {}) })
    : undefined;
  const identity = (files: readonly string[]) => {
    const id = firstIdentity(files);
    return id ? { privateKey: id.key, keySource: `IdentityFile ${id.file} (ssh config ${file})` } : {};
  };
  const auth: Partial<SshOptions> =
    secret === undefined
      ? { ...agent, ...identity(c?.identityFiles ?? []) }
      : /^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(secret)
        ? { privateKey: secret }
        : { password: secret };
  const jump: SshHop[] = (c?.proxyJump ?? []).map((j) => {
    const jc = sshConfigFor(file!, j.host, { ...(j.user ? { user: j.user } : {}), ...(j.port ? { port: j.port } : {}) });
    return {
      host: jc.hostname ?? j.host,
      port: j.port ?? jc.port ?? 22,
      username: j.user ?? jc.user ?? userInfo().username,
      ...agent,
      ...identity(jc.identityFiles),
    };
  });
  return {
    device: d.name,
    host: c?.hostname ?? m.address ?? "localhost",
    port: m.port ?? c?.port ?? (m.transport === "netconf" ? 830 : 22),
    username: invUser ?? c?.user ?? "linkcrypt",
    knownHostsFile: o.knownHostsFile,
    acceptNewHostKey: o.acceptNewHostKey,
    connectTimeoutMs: o.connectTimeoutMs,
    commandTimeoutMs: o.commandTimeoutMs,
    ...auth,
    ...(jump.length ? { jump } : {}),
  };
}
