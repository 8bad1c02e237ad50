import type { Duplex } from "node:stream";
import { FrameDecoder } from "../../../src/transport/netconf/framing.js";
import { CAP_BASE_11 } from "../../../src/transport/netconf/client.js";
import type { SnmpSession, Varbind } from "../../../src/transport/snmp.js";
import type { ExecResult, SshConnection } from "../../../src/transport/ssh.js";
import { type Exchange, type Kind, recordError, redact, type Secrets, toJson } from "./tape.js";

/** How an SSH exec with standard input is written down as one request text. */
export function execRequest(command: string, input?: string): string {
  return input === undefined ? command : `${command}\n<<< stdin\n${input}`;
}

/** Both hellos offer base:1.1: the rest of the session is chunk-framed (RFC 6242). */
export function chunkedAfterHello(clientHello: string, serverHello: string): boolean {
  return clientHello.includes(CAP_BASE_11) && serverHello.includes(CAP_BASE_11);
}

/**
 * Records what the contract suite's transports send and receive, case by case: a decorator around the SSH
 * connections and SNMP sessions the suite hands to drivers (and to its own probes). The real transport does the
 * work; the recorder writes down each request and its reply or error. Drivers see the same classes' methods.
 */
export class Recorder {
  private exchanges: Exchange[] | undefined;

  constructor(private readonly secrets: Secrets) {}

  begin(): void {
    this.exchanges = [];
  }

  end(): Exchange[] {
    const x = this.exchanges ?? [];
    this.exchanges = undefined;
    return x;
  }

  private add(e: Exchange): Exchange {
    if (!this.exchanges) throw new Error(`recording: a ${e.kind} request on ${e.channel} was sent outside any contract case`);
    this.exchanges.push(e);
    return e;
  }

  private clean(v: unknown): unknown {
    return JSON.parse(redact(JSON.stringify(toJson(v)), this.secrets));
  }

  private async call<T>(
    channel: string,
    kind: Kind,
    request: string,
    run: () => Promise<T>,
    json: (r: T) => unknown = (r) => r,
  ): Promise<T> {
    const ex = this.add({ channel, kind, request: redact(request, this.secrets) });
    try {
      const r = await run();
      ex.reply = this.clean(json(r));
      return r;
    } catch (e) {
      const err = recordError(e);
      ex.error = this.clean(err) as typeof err;
      throw e;
    }
  }

  /** The connection as drivers use it (`exec`, `run`, `shellScript`, `subsystem`), recorded on `channel`. */
  ssh(real: SshConnection, channel: string): SshConnection {
    const w = Object.create(real) as SshConnection;
    Object.assign(w, {
      exec: (command: string, timeoutMs?: number, input?: string): Promise<ExecResult> =>
        this.call(channel, "exec", execRequest(command, input), () => real.exec(command, timeoutMs, input)),
      shellScript: (lines: readonly string[], timeoutMs?: number): Promise<ExecResult> =>
        this.call(channel, "shell", lines.join("\n"), () => real.shellScript(lines, timeoutMs)),
      subsystem: async (name: string) => {
        const ch = await this.call(
          channel,
          "subsystem",
          name,
          () => real.subsystem(name),
          () => "opened",
        );
        if (name === "netconf") this.netconf(ch, `${channel}/${name}`);
        return ch;
      },
      close: () => real.close(),
    });
    return w;
  }

  /** Watches a NETCONF channel in place: each message the client writes, paired with the next one the server sends. */
  private netconf(ch: Duplex, channel: string): void {
    const client = new FrameDecoder(64 * 1024 * 1024);
    const server = new FrameDecoder(64 * 1024 * 1024);
    const open: Exchange[] = [];
    const early: string[] = []; // the server's hello comes unasked; it waits here if it beats ours
    let hello: { ex: Exchange; xml: string } | undefined;
    const pair = (ex: Exchange, xml: string) => {
      ex.reply = this.clean(xml);
      if (ex === hello?.ex && chunkedAfterHello(hello.xml, xml)) {
        client.setFraming("chunked");
        server.setFraming("chunked");
      }
    };
    const write = ch.write.bind(ch) as (...a: unknown[]) => boolean;
    (ch as { write: unknown }).write = (chunk: unknown, ...rest: unknown[]) => {
      client.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
      for (let m = client.next(); m !== undefined; m = client.next()) {
        const ex = this.add({ channel, kind: "netconf", request: redact(m, this.secrets) });
        hello ??= { ex, xml: m };
        const answer = early.shift();
        if (answer !== undefined) pair(ex, answer);
        else open.push(ex);
      }
      return write(chunk, ...rest);
    };
    const emit = ch.emit.bind(ch) as (ev: string | symbol, ...a: unknown[]) => boolean;
    (ch as { emit: unknown }).emit = (ev: string | symbol, ...args: unknown[]) => {
      if (ev === "data" && Buffer.isBuffer(args[0])) {
        server.push(args[0]);
        for (let m = server.next(); m !== undefined; m = server.next()) {
          const ex = open.shift();
          if (ex) pair(ex, m);
          else early.push(m);
        }
      }
      return emit(ev, ...args);
    };
  }

  /** The session as drivers use it (`get`, `set`, `walk`), recorded on `channel`. */
  snmp(real: SnmpSession, channel: string): SnmpSession {
    const w = Object.create(real) as SnmpSession;
    Object.assign(w, {
      get: (oids: string[]) => this.call(channel, "snmp.get", JSON.stringify({ oids }), () => real.get(oids)),
      set: (varbinds: Varbind[]) => this.call(channel, "snmp.set", JSON.stringify(toJson({ varbinds })), () => real.set(varbinds)),
      walk: (oid: string) => this.call(channel, "snmp.walk", JSON.stringify({ oid }), () => real.walk(oid)),
      close: () => real.close(),
    });
    return w;
  }
}
