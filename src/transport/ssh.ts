import type { Duplex } from "node:stream";
import { Client, type ClientChannel, type ConnectConfig } from "ssh2";
import { AuthError, CommandError, ConnectError, HostKeyError, InputError, ProtocolError, TimeoutError } from "../errors.js";
import { addHostKey, checkHostKey } from "./known-hosts.js";

/** One SSH endpoint's address and credentials: a jump host on the way to a device, or the device itself. */
export interface SshHop {
  host: string;
  port?: number;
  username: string;
  password?: string;
  privateKey?: string | Buffer;
  passphrase?: string;
  /** Path of an ssh-agent socket (SSH_AUTH_SOCK). */
  agent?: string;
  /** Where the key came from, for messages (an ssh_config IdentityFile); default: the device's secret reference. */
  keySource?: string;
}

/**
 * An SSH connection to one device (ssh2), with OpenSSH known_hosts pinning: an unknown or changed host key is
 * refused with its fingerprint, unless `acceptNewHostKey` is set, which accepts and records an *unknown* key
 * (never a changed one). One connection serves every exec, subsystem and forward for the device.
 */
export interface SshOptions extends SshHop {
  device: string;
  knownHostsFile: string;
  acceptNewHostKey?: boolean;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  /**
   * Jump hosts (OpenSSH ProxyJump), in order: the first is connected to directly, each next one and finally the
   * device through a direct-tcpip channel (ssh2 forwardOut) of the one before. Each hop's host key is pinned in the
   * same known_hosts file.
   */
  jump?: SshHop[];
}

/** What one handshake needs: the device's own endpoint, or a jump host's with `via` naming it. */
type Hop = SshHop & { via?: string };

export interface ExecResult {
  code: number | null;
  signal: string | undefined;
  stdout: string;
  stderr: string;
}

export class SshConnection {
  private client: Client | undefined;
  /** The jump hosts' connections, first hop first; closed with the device's. */
  private jumps: Client[] = [];
  private closed = false;
  readonly device: string;

  private constructor(private readonly opts: SshOptions) {
    this.device = opts.device;
  }

  static async connect(opts: SshOptions): Promise<SshConnection> {
    const c = new SshConnection(opts);
    await c.open();
    return c;
  }

  private async open(): Promise<void> {
    const o = this.opts;
    const hops: Hop[] = (o.jump ?? []).map((j) => ({ ...j, via: `jump host ${j.username}@${j.host}:${j.port ?? 22}` }));
    let sock: Duplex | undefined;
    try {
      for (const [i, hop] of [...hops, o as Hop].entries()) {
        const client = await this.handshake(hop, sock);
        if (i === hops.length) {
          this.client = client;
          return;
        }
        this.jumps.push(client);
        const next = i + 1 < hops.length ? hops[i + 1]! : o;
        sock = await forwardOut(client, next.host, next.port ?? 22, `${o.device}: ${hop.via}`, o.device);
      }
    } catch (e) {
      for (const j of this.jumps) j.end();
      this.jumps = [];
      throw e;
    }
  }

  /** One SSH handshake, directly or over `sock` (a channel of the previous jump host), with host-key pinning. */
  private handshake(o: Hop, sock: Duplex | undefined): Promise<Client> {
    const { device, knownHostsFile, acceptNewHostKey, connectTimeoutMs } = this.opts;
    const port = o.port ?? 22;
    const who = o.via ? `${device}: ${o.via}` : device;
    const ctx = { device, operation: o.via ? `connect (${o.via})` : "connect" };
    let hostKeyError: HostKeyError | undefined;
    return new Promise((resolve, reject) => {
      const client = new Client();
      const cfg: ConnectConfig = {
        host: o.host,
        port,
        ...(sock ? { sock } : {}),
        username: o.username,
        readyTimeout: connectTimeoutMs ?? 10_000,
        keepaliveInterval: 15_000,
        keepaliveCountMax: 3,
        tryKeyboard: false,
        hostVerifier: (key: Buffer) => {
          const r = checkHostKey(knownHostsFile, o.host, port, key);
          if (r.status === "match") return true;
          if (r.status === "unknown" && acceptNewHostKey) {
            addHostKey(knownHostsFile, o.host, port, key);
            return true;
          }
          hostKeyError =
            r.status === "unknown"
              ? new HostKeyError(
                  "E_HOSTKEY_UNKNOWN",
                  `${who}: host key for ${o.host}:${port} is not in ${knownHostsFile} (${r.keyType} ${r.fingerprint}); ` +
                    "check it out of band, then record it with linkcrypt discover INVENTORY --accept-new-host-key " +
                    "(only discover records new keys; apply and the other verbs use pinned keys only)",
                  r.fingerprint,
                  undefined,
                  ctx,
                )
              : r.status === "revoked"
                ? new HostKeyError(
                    "E_HOSTKEY_MISMATCH",
                    `${who}: host key ${r.fingerprint} for ${o.host}:${port} is marked @revoked in ${knownHostsFile}`,
                    r.fingerprint,
                    undefined,
                    ctx,
                  )
                : new HostKeyError(
                    "E_HOSTKEY_MISMATCH",
                    `${who}: HOST KEY CHANGED for ${o.host}:${port}: presented ${r.keyType} ${r.fingerprint}, ` +
                      `pinned ${r.expected.join(", ")} in ${knownHostsFile}; refusing to connect (possible man-in-the-middle)`,
                    r.fingerprint,
                    r.expected.join(", "),
                    ctx,
                  );
          return false;
        },
        ...(o.password !== undefined ? { password: o.password } : {}),
        ...(o.privateKey !== undefined ? { privateKey: o.privateKey } : {}),
        ...(o.passphrase !== undefined ? { passphrase: o.passphrase } : {}),
        ...(o.agent !== undefined ? { agent: o.agent } : {}),
      };
      let settled = false;
      client.on("ready", () => {
        settled = true;
        resolve(client);
      });
      client.on("error", (e: Error & { level?: string }) => {
        if (settled) return;
        settled = true;
        client.end();
        if (hostKeyError) return reject(hostKeyError);
        if (e.level === "client-authentication") {
          const methods = [o.privateKey ? "publickey" : "", o.agent ? "agent" : "", o.password !== undefined ? "password" : ""];
          const tried = methods.filter(Boolean).join(", ") || "no method";
          return reject(
            new AuthError(`${who}: authentication as "${o.username}" failed on ${o.host}:${port} (tried ${tried})`, { ...ctx, cause: e }),
          );
        }
        if (e.level === "client-timeout" || /Timed out/i.test(e.message))
          return reject(
            new TimeoutError(`${who}: SSH handshake with ${o.host}:${port} did not finish within ${cfg.readyTimeout} ms`, {
              ...ctx,
              cause: e,
            }),
          );
        reject(new ConnectError(`${who}: cannot connect to ${o.host}:${port}: ${e.message}`, { ...ctx, cause: e }));
      });
      client.on("close", () => {
        if (client === this.client) this.closed = true;
        if (!settled) {
          settled = true;
          reject(hostKeyError ?? new ConnectError(`${who}: connection to ${o.host}:${port} closed during the handshake`, ctx));
        }
      });
      try {
        client.connect(cfg);
      } catch (e) {
        // ssh2 parses the private key synchronously: a malformed one throws here, before any event.
        settled = true;
        client.removeAllListeners();
        const why = String((e as Error)?.message ?? e)
          .split("\n")[0]!
          .replace(/-----BEGIN[\s\S]*/, "")
          .trim();
        reject(
          new InputError(
            `${who}: the SSH credential for ${o.username}@${o.host} cannot be used: ${why || "not a private key ssh2 can read"} (check ${o.keySource ?? "the secret it references"})`,
            { ...ctx, cause: e },
          ),
        );
      }
    });
  }

  private live(operation: string): Client {
    if (!this.client || this.closed) throw new ConnectError(`${this.device}: SSH connection is closed`, { device: this.device, operation });
    return this.client;
  }

  /** Run a command; resolves with its exit code and output. Times out, and reports a dropped connection. */
  exec(command: string, timeoutMs = this.opts.commandTimeoutMs ?? 30_000, input?: string): Promise<ExecResult> {
    const client = this.live("exec");
    const ctx = { device: this.device, operation: `exec ${command}` };
    return new Promise((resolve, reject) => {
      client.exec(command, (err, ch) => {
        if (err) return reject(new ConnectError(`${this.device}: cannot start "${command}": ${err.message}`, { ...ctx, cause: err }));
        let code: number | null = null;
        let signal: string | undefined;
        let done = false;
        const timer = setTimeout(() => {
          done = true;
          ch.close();
          reject(new TimeoutError(`${this.device}: "${command}" did not finish within ${timeoutMs} ms`, ctx));
        }, timeoutMs);
        const onDrop = () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          reject(new ConnectError(`${this.device}: connection dropped while running "${command}"`, ctx));
        };
        client.once("close", onDrop);
        if (input !== undefined) ch.end(input);
        const output = collectOutput(ch, () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          ch.close();
          reject(tooMuchOutput(this.device, `"${command}"`, ctx));
        });
        ch.on("exit", (c: number | null, sig?: string) => {
          code = c;
          signal = sig;
        });
        ch.on("close", () => {
          client.removeListener("close", onDrop);
          if (done) return;
          clearTimeout(timer);
          done = true;
          // A channel that closes with neither an exit status nor a signal means the session died under it.
          if (code === null && signal === undefined)
            return reject(new ConnectError(`${this.device}: connection dropped while running "${command}"`, ctx));
          resolve({ code, signal, ...output() });
        });
      });
    });
  }

  /** Run a command that must succeed; a non-zero exit is a CommandError (exit 127: command not found). */
  async run(command: string, timeoutMs?: number, input?: string): Promise<string> {
    const r = await this.exec(command, timeoutMs, input);
    if (r.code !== 0) {
      const what = r.code === 127 ? "command not found" : `exit ${r.code ?? `signal ${r.signal}`}`;
      throw new CommandError(
        `${this.device}: "${command}" failed (${what})${r.stderr.trim() ? `: ${r.stderr.trim().split("\n")[0]}` : ""}`,
        r.code,
        r.stderr,
        { device: this.device, operation: `exec ${command}` },
      );
    }
    return r.stdout;
  }

  /**
   * Feed lines to the device's CLI on a shell channel (no pty), the way network CLIs take configuration scripts,
   * and collect everything it prints until it closes the channel. Resolves with the exit status if one is sent.
   */
  shellScript(lines: readonly string[], timeoutMs = this.opts.commandTimeoutMs ?? 30_000): Promise<ExecResult> {
    const client = this.live("shell");
    const what = `CLI script (${lines.length} lines)`;
    const ctx = { device: this.device, operation: what };
    return new Promise((resolve, reject) => {
      client.shell(false, (err, ch) => {
        if (err) return reject(new ConnectError(`${this.device}: cannot open a shell: ${err.message}`, { ...ctx, cause: err }));
        let code: number | null = null;
        let done = false;
        const timer = setTimeout(() => {
          done = true;
          ch.close();
          reject(new TimeoutError(`${this.device}: ${what} did not finish within ${timeoutMs} ms`, ctx));
        }, timeoutMs);
        const output = collectOutput(ch, () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          ch.close();
          reject(tooMuchOutput(this.device, what, ctx));
        });
        ch.on("exit", (c: number | null) => (code = c));
        ch.on("close", () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve({ code, signal: undefined, ...output() });
        });
        ch.end(`${lines.join("\n")}\nexit\n`);
      });
    });
  }

  /** Open an SSH subsystem channel, e.g. "netconf". */
  subsystem(name: string): Promise<ClientChannel> {
    const client = this.live(`subsystem ${name}`);
    return new Promise((resolve, reject) => {
      client.subsys(name, (err, ch) => {
        if (err)
          reject(
            new ConnectError(`${this.device}: cannot open the "${name}" subsystem: ${err.message}`, {
              device: this.device,
              operation: `subsystem ${name}`,
              cause: err,
            }),
          );
        else resolve(ch);
      });
    });
  }

  /** A stream to a UNIX socket on the device (OpenSSH streamlocal forwarding), e.g. strongSwan's VICI socket. */
  forwardStreamLocal(socketPath: string): Promise<Duplex> {
    const client = this.live("forward");
    return new Promise((resolve, reject) => {
      client.openssh_forwardOutStreamLocal(socketPath, (err, ch) => {
        if (err)
          reject(
            new ConnectError(`${this.device}: cannot forward to ${socketPath}: ${err.message}`, {
              device: this.device,
              operation: `forward ${socketPath}`,
              cause: err,
            }),
          );
        else resolve(ch);
      });
    });
  }

  get isOpen(): boolean {
    return this.client !== undefined && !this.closed;
  }

  close(): void {
    this.closed = true;
    this.client?.end();
    for (const j of this.jumps.reverse()) j.end();
    this.jumps = [];
  }
}

/** A direct-tcpip channel from `client` to host:port (what `ssh -J` uses), as the socket of the next handshake. */
function forwardOut(client: Client, host: string, port: number, who: string, device: string): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    client.forwardOut("127.0.0.1", 0, host, port, (err, ch) => {
      if (err)
        reject(
          new ConnectError(`${who}: cannot open a channel to ${host}:${port}: ${err.message}`, {
            device,
            operation: `forward ${host}:${port}`,
            cause: err,
          }),
        );
      else resolve(ch);
    });
  });
}

/** One live connection per device, reused; a dropped one is reopened on the next `get`. */
export class SshPool {
  private readonly conns = new Map<string, Promise<SshConnection>>();

  get(opts: SshOptions): Promise<SshConnection> {
    const existing = this.conns.get(opts.device);
    if (existing) {
      return existing.then(
        (c) => (c.isOpen ? c : this.reopen(opts)),
        () => this.reopen(opts),
      );
    }
    return this.reopen(opts);
  }

  private reopen(opts: SshOptions): Promise<SshConnection> {
    const p = SshConnection.connect(opts);
    this.conns.set(opts.device, p);
    p.catch(() => this.conns.delete(opts.device));
    return p;
  }

  async closeAll(): Promise<void> {
    const all = [...this.conns.values()];
    this.conns.clear();
    for (const p of all) (await p.catch(() => undefined))?.close();
  }
}

/** The most a command may print (stdout and stderr together) before it is stopped: far above any real answer. */
export const SSH_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/**
 * Collects a channel's output as bytes (a UTF-8 character split across two packets stays whole) and calls
 * `overflow` once the total passes SSH_MAX_OUTPUT_BYTES, so a device that never stops talking cannot exhaust memory.
 */
export function collectOutput(ch: ClientChannel, overflow: () => void): () => { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let total = 0;
  const take = (into: Buffer[]) => (d: Buffer) => {
    total += d.length;
    if (total > SSH_MAX_OUTPUT_BYTES) return overflow();
    into.push(d);
  };
  ch.on("data", take(out));
  ch.stderr.on("data", take(err));
  return () => ({ stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") });
}

function tooMuchOutput(device: string, what: string, ctx: { device: string; operation: string }): ProtocolError {
  return new ProtocolError(`${device}: ${what} printed more than ${SSH_MAX_OUTPUT_BYTES} bytes (the limit); stopped it`, ctx);
}
