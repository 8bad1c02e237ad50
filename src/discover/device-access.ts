import type { DeviceEntry } from "../model/inventory-schema.js";
import { resolveSecret, type SecretSources } from "../secrets.js";
import type { SshConnection, SshOptions, SshPool } from "../transport/ssh.js";

/** How to reach devices: shared by discover, mesh and (later) apply. */
export interface AccessOptions {
  knownHostsFile: string;
  acceptNewHostKey: boolean;
  secrets: SecretSources;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
}

/** A lazily opened, pooled SSH connection to a device, authenticated from its credential reference. */
export function sshFor(d: DeviceEntry, pool: SshPool, o: AccessOptions): () => Promise<SshConnection> {
  const m = d.management!;
  return () => {
    const s = d.credentials ? resolveSecret(d.credentials.secret, o.secrets, d.name) : undefined;
    const auth: Partial<SshOptions> =
      s === undefined ? (o.secrets.env.SSH_AUTH_SOCK ? { agent: o.secrets.env.SSH_AUTH_SOCK } : {})
      : /^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(s) ? { privateKey: s } : { password: s };
    return pool.get({
      device: d.name, host: m.address, port: m.port ?? (m.transport === "netconf" ? 830 : 22),
      username: d.credentials?.username ?? "linkcrypt", knownHostsFile: o.knownHostsFile, acceptNewHostKey: o.acceptNewHostKey,
      connectTimeoutMs: o.connectTimeoutMs, commandTimeoutMs: o.commandTimeoutMs, ...auth,
    });
  };
}
