import { Duplex } from "node:stream";
import { encodeMessage, FrameDecoder, type Framing } from "../../../src/transport/netconf/framing.js";
import { SnmpSession, type Varbind } from "../../../src/transport/snmp.js";
import { type ExecResult, SshConnection } from "../../../src/transport/ssh.js";
import { chunkedAfterHello, execRequest } from "./record.js";
import {
  type CaseTape,
  type Exchange,
  fromJson,
  type Kind,
  NONCE,
  normalise,
  redact,
  reviveError,
  type Secrets,
  textDiff,
  toJson,
  unredact,
} from "./tape.js";

/** A request the recording does not have at this point: the driver's behaviour changed (or the recording is stale). */
export class ReplayMismatch extends Error {
  override name = "ReplayMismatch";
}

/**
 * Plays a recording back to a driver: transports with the same methods as the real ones, which answer each request
 * with the recorded reply, after checking that it is the request the recording has next on that channel (same
 * kind, same text once message-ids, timestamps, the lab account and the driver's own tokens are normalised).
 * Anything else fails the case with a diff of expected against got, even if the driver swallowed the error.
 */
export class Replayer {
  private queues = new Map<string, Exchange[]>();
  private caseId: string | undefined;
  /** Recorded nonce -> the one this run's driver made up in its place. */
  private readonly nonces = new Map<string, string>();
  private mismatch: ReplayMismatch | undefined;

  constructor(private readonly secrets: Secrets) {}

  begin(tape: CaseTape): void {
    this.caseId = tape.case;
    this.mismatch = undefined;
    this.queues = new Map();
    for (const e of tape.exchanges) {
      const q = this.queues.get(e.channel) ?? [];
      q.push(e);
      this.queues.set(e.channel, q);
    }
  }

  /** The first mismatch of the case, else the recorded requests the driver never sent. */
  end(): { mismatch: ReplayMismatch | undefined; unsent: Exchange[] } {
    const r = { mismatch: this.mismatch, unsent: [...this.queues.values()].flat() };
    this.caseId = undefined;
    this.queues = new Map();
    return r;
  }

  private fail(message: string): never {
    const e = new ReplayMismatch(message);
    this.mismatch ??= e;
    throw e;
  }

  /** The recorded exchange this request stands for; a ReplayMismatch if it is not the next one on its channel. */
  take(channel: string, kind: Kind, request: string): Exchange {
    const got = redact(request, this.secrets);
    const where = `${kind} on ${channel} in case "${this.caseId ?? "(none)"}"`;
    if (this.caseId === undefined) this.fail(`replay: a ${where} was sent outside any contract case`);
    const q = this.queues.get(channel) ?? [];
    const exp = q[0];
    if (!exp)
      this.fail(
        `replay: unexpected ${where}: the recording has no further request on this channel\nexpected: (nothing)\ngot:\n${normalise(got)}`,
      );
    const mapped = this.mapNonces(exp.request, got);
    if (exp.kind !== kind || mapped === undefined || normalise(exp.request) !== normalise(mapped.text))
      this.fail(
        `replay: unexpected ${where}${exp.kind === kind ? "" : ` (the recording's next request on this channel is a ${exp.kind})`}\n--- expected (recording)\n+++ got (driver)\n${textDiff(
          normalise(exp.request),
          normalise(mapped?.text ?? got),
        )}`,
      );
    for (const [k, v] of mapped.pairs) this.nonces.set(k, v);
    q.shift();
    return exp;
  }

  /** `got` with the driver's nonces written as the recorded ones they stand for (paired by position). */
  private mapNonces(expected: string, got: string): { text: string; pairs: [string, string][] } | undefined {
    const e = [...expected.matchAll(NONCE)].map((m) => m[0]);
    const g = [...got.matchAll(NONCE)].map((m) => m[0]);
    if (e.length !== g.length) return { text: got, pairs: [] };
    const pairs: [string, string][] = [];
    const local = new Map(this.nonces);
    for (let i = 0; i < e.length; i++) {
      const known = local.get(e[i]!);
      if (known !== undefined && known !== g[i]) return undefined;
      local.set(e[i]!, g[i]!);
      pairs.push([e[i]!, g[i]!]);
    }
    const back = new Map(pairs.map(([rec, act]) => [act, rec]));
    return { text: got.replace(NONCE, (n) => back.get(n) ?? n), pairs };
  }

  /** The recorded reply as this run should see it: its nonces, the real secrets; or the recorded error, thrown. */
  answer<T>(e: Exchange): T {
    const fix = (v: unknown) => {
      let s = JSON.stringify(v);
      for (const [rec, act] of this.nonces) s = s.split(rec).join(act);
      return fromJson<T>(JSON.parse(unredact(s, this.secrets)));
    };
    if (e.error) throw reviveError(fix(e.error) as never);
    return fix(e.reply);
  }

  private async call<T>(channel: string, kind: Kind, request: string): Promise<T> {
    await new Promise((r) => setImmediate(r)); // a reply never comes back in the same tick
    return this.answer<T>(this.take(channel, kind, request));
  }

  /** An SshConnection that answers from the recording (`run` is the real class's, on top of `exec`). */
  ssh(channel: string): SshConnection {
    let open = true;
    const c = Object.create(SshConnection.prototype) as SshConnection;
    Object.defineProperty(c, "isOpen", { get: () => open });
    Object.assign(c, {
      device: channel,
      opts: {},
      exec: (command: string, _timeoutMs?: number, input?: string) => this.call<ExecResult>(channel, "exec", execRequest(command, input)),
      shellScript: (lines: readonly string[]) => this.call<ExecResult>(channel, "shell", lines.join("\n")),
      subsystem: async (name: string) => {
        await this.call<string>(channel, "subsystem", name);
        return this.netconfStream(`${channel}/${name}`);
      },
      forwardStreamLocal: async () => {
        throw new Error("replay: stream forwarding (VICI) is not recorded by the contract suite");
      },
      close: () => {
        open = false;
      },
    });
    return c;
  }

  /** A NETCONF subsystem channel played from the recording: every framed message in, its recorded reply out. */
  private netconfStream(channel: string): Duplex {
    const decoder = new FrameDecoder(64 * 1024 * 1024);
    let framing: Framing = "eom";
    let first = true;
    const stream: Duplex = new Duplex({
      read() {},
      write: (chunk: Buffer, _enc, done) => {
        try {
          decoder.push(chunk);
          for (let m = decoder.next(); m !== undefined; m = decoder.next()) {
            const ex = this.take(channel, "netconf", m);
            let reply = this.answer<string>(ex);
            const id = /<rpc\b[^>]*\bmessage-id="([^"]*)"/.exec(m)?.[1];
            if (id !== undefined) reply = reply.replace(/(<(?:\w+:)?rpc-reply\b[^>]*\bmessage-id=")[^"]*"/, `$1${id}"`);
            const out = encodeMessage(reply, framing);
            if (first) {
              first = false;
              framing = chunkedAfterHello(m, reply) ? "chunked" : "eom";
              decoder.setFraming(framing);
            }
            setImmediate(() => stream.push(out));
          }
          done();
        } catch (e) {
          done(e as Error);
        }
      },
      final(done) {
        setImmediate(() => stream.push(null));
        done();
      },
    });
    return stream;
  }

  /** An SnmpSession that answers from the recording. */
  snmp(channel: string): SnmpSession {
    const s = Object.create(SnmpSession.prototype) as SnmpSession;
    Object.assign(s, {
      get: (oids: string[]) => this.call<Varbind[]>(channel, "snmp.get", JSON.stringify({ oids })),
      set: (varbinds: Varbind[]) => this.call<Varbind[]>(channel, "snmp.set", JSON.stringify(toJson({ varbinds }))),
      walk: (oid: string) => this.call<Varbind[]>(channel, "snmp.walk", JSON.stringify({ oid })),
      close: () => undefined,
    });
    return s;
  }
}
