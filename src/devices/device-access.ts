import type { Driver, DriverContext } from "../../drivers/contract.js";
import { driverFactory } from "../../drivers/registry.js";
import { LinkcryptError } from "../errors.js";
import type { DeviceEntry } from "../model/inventory-schema.js";
import type { ProfileSet } from "../model/load-profiles.js";
import { resolveSecret, type SecretSources } from "../secrets.js";
import { SnmpSession } from "../transport/snmp.js";
import type { SshConnection, SshPool } from "../transport/ssh.js";
import { sshTarget } from "./ssh-target.js";

/** How to reach devices: shared by discover, mesh and (later) apply. */
export interface AccessOptions {
  knownHostsFile: string;
  acceptNewHostKey: boolean;
  secrets: SecretSources;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  now?: () => Date;
  /** --ssh-config; when absent $LINKCRYPT_SSH_CONFIG, else ~/.ssh/config if it exists (src/devices/ssh-target.ts). */
  sshConfigFile?: string;
}

/**
 * A lazily opened, pooled SSH connection to a device, authenticated from its credential reference, with the OpenSSH
 * client config applied (src/devices/ssh-target.ts).
 */
export function sshFor(d: DeviceEntry, pool: SshPool, o: AccessOptions): () => Promise<SshConnection> {
  return async () => pool.get(sshTarget(d, o));
}

export function profileOf(d: DeviceEntry, p: ProfileSet): object | undefined {
  return d.kind === "switch" ? p.switches.get(d.profile) : d.kind === "l1-encryptor" ? p.l1.get(d.profile) : p.hosts.get(d.profile);
}

/** The driver a device's profile names, wired to lazily opened transports. Throws E_UNSUPPORTED if it has none. */
export function driverFor(d: DeviceEntry, profiles: ProfileSet, pool: SshPool, o: AccessOptions): Driver {
  const profile = profileOf(d, profiles) as Record<string, unknown> | undefined;
  const name = profile?.driver as string | undefined;
  const factory = name ? driverFactory(name) : undefined;
  if (!factory || !d.management)
    throw new LinkcryptError(
      "E_UNSUPPORTED",
      `${d.name}: ${!d.management ? "no management address" : `driver "${name ?? "?"}" (profile ${d.profile}) is not available in this version`}`,
      { device: d.name },
    );
  return factory(contextFor(d, profile!, pool, o));
}

function contextFor(d: DeviceEntry, profile: Record<string, unknown>, pool: SshPool, o: AccessOptions): DriverContext {
  const m = d.management!;
  const secret = () => (d.credentials ? resolveSecret(d.credentials.secret, o.secrets, d.name) : undefined);
  return {
    device: d.name,
    profile,
    commandTimeoutMs: o.commandTimeoutMs,
    now: o.now ?? (() => new Date()),
    ssh: sshFor(d, pool, o),
    snmp: () => {
      const version = m.snmpVersion ?? "3";
      const s = secret();
      if (version !== "3")
        return SnmpSession.open({
          device: d.name,
          host: m.address ?? "localhost",
          port: m.port ?? 161,
          version,
          community: s ?? "public",
          timeoutMs: o.connectTimeoutMs,
        });
      const priv = d.credentials?.privSecret ? resolveSecret(d.credentials.privSecret, o.secrets, d.name) : s;
      return SnmpSession.open({
        device: d.name,
        host: m.address ?? "localhost",
        port: m.port ?? 161,
        version,
        timeoutMs: o.connectTimeoutMs,
        retries: 1,
        user: {
          name: d.credentials?.username ?? "linkcrypt",
          authProtocol: m.snmpAuth ?? "sha256",
          authKey: s ?? "",
          privProtocol: m.snmpPriv ?? "aes",
          privKey: priv ?? "",
        },
      });
    },
  };
}
