import { connect as netConnect } from "node:net";
import type { Duplex } from "node:stream";
import { ConnectError, DeviceError, ProtocolError, TimeoutError } from "../errors.js";

/**
 * strongSwan's VICI protocol over a UNIX socket (locally, or through SSH streamlocal forwarding).
 *
 * Framing: each packet is a 32-bit big-endian length, then a type byte, then (for named packets) a 1-byte name
 * length and the name, then the message. A message is a run of elements: SECTION_START(1) name, SECTION_END(2),
 * KEY_VALUE(3) name + 16-bit length + value, LIST_START(4) name, LIST_ITEM(5) 16-bit length + value, LIST_END(6).
 * Streaming commands (list-sas, list-conns) send their results as events, which must be registered first.
 *
 * Example:
 *   const v = await ViciClient.connect({ device: "h1", socketPath: "/var/run/charon.vici" });
 *   await v.request("load-conn", { "mesh-h2": { version: "2", local_addrs: ["10.0.0.1"], ... } });
 *   const sas = await v.stream("list-sas", "list-sa", { noblock: "yes" });
 */
export type ViciValue = string | string[] | ViciMessage;
export interface ViciMessage {
  [key: string]: ViciValue;
}

const enum Pkt {
  CMD_REQUEST = 0,
  CMD_RESPONSE = 1,
  CMD_UNKNOWN = 2,
  EVENT_REGISTER = 3,
  EVENT_UNREGISTER = 4,
  EVENT_CONFIRM = 5,
  EVENT_UNKNOWN = 6,
  EVENT = 7,
}
const enum El {
  SECTION_START = 1,
  SECTION_END = 2,
  KEY_VALUE = 3,
  LIST_START = 4,
  LIST_ITEM = 5,
  LIST_END = 6,
}
const MAX_PACKET = 512 * 1024; // charon's own limit on VICI messages

export function encodeMessage(msg: ViciMessage): Buffer {
  const parts: Buffer[] = [];
  const name = (n: string) => {
    const b = Buffer.from(n);
    if (b.length > 255) throw new ProtocolError(`VICI key too long: ${n}`);
    return Buffer.concat([Buffer.from([b.length]), b]);
  };
  const value = (v: string) => {
    const b = Buffer.from(v);
    if (b.length > 65535) throw new ProtocolError("VICI value longer than 65535 bytes");
    const len = Buffer.alloc(2);
    len.writeUInt16BE(b.length);
    return Buffer.concat([len, b]);
  };
  const walk = (m: ViciMessage) => {
    for (const [k, v] of Object.entries(m)) {
      if (typeof v === "string") parts.push(Buffer.from([El.KEY_VALUE]), name(k), value(v));
      else if (Array.isArray(v)) {
        parts.push(Buffer.from([El.LIST_START]), name(k));
        for (const item of v) parts.push(Buffer.from([El.LIST_ITEM]), value(item));
        parts.push(Buffer.from([El.LIST_END]));
      } else {
        parts.push(Buffer.from([El.SECTION_START]), name(k));
        walk(v);
        parts.push(Buffer.from([El.SECTION_END]));
      }
    }
  };
  walk(msg);
  return Buffer.concat(parts);
}

/** An own, enumerable property even for a key like `__proto__`: a peer's section name never replaces a prototype. */
function put(obj: ViciMessage, key: string, value: ViciValue): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

export function decodeMessage(b: Buffer): ViciMessage {
  const root: ViciMessage = {};
  const stack: ViciMessage[] = [root];
  let list: string[] | undefined;
  let i = 0;
  const need = (n: number) => {
    if (i + n > b.length) throw new ProtocolError("truncated VICI message");
  };
  const readName = () => {
    need(1);
    const n = b[i++]!;
    need(n);
    const s = b.subarray(i, i + n).toString();
    i += n;
    return s;
  };
  const readValue = () => {
    need(2);
    const n = b.readUInt16BE(i);
    i += 2;
    need(n);
    const s = b.subarray(i, i + n).toString();
    i += n;
    return s;
  };
  while (i < b.length) {
    const t = b[i++]!;
    const top = stack[stack.length - 1]!;
    switch (t) {
      case El.SECTION_START: {
        const s: ViciMessage = {};
        put(top, readName(), s);
        stack.push(s);
        break;
      }
      case El.SECTION_END:
        if (stack.length === 1) throw new ProtocolError("VICI section end without a start");
        stack.pop();
        break;
      case El.KEY_VALUE: {
        const k = readName();
        put(top, k, readValue());
        break;
      }
      case El.LIST_START:
        list = [];
        put(top, readName(), list);
        break;
      case El.LIST_ITEM:
        if (!list) throw new ProtocolError("VICI list item outside a list");
        list.push(readValue());
        break;
      case El.LIST_END:
        list = undefined;
        break;
      default:
        throw new ProtocolError(`unknown VICI element type ${t}`);
    }
  }
  return root;
}

function packet(type: Pkt, name: string | undefined, msg?: ViciMessage): Buffer {
  const body: Buffer[] = [Buffer.from([type])];
  if (name !== undefined) {
    if (Buffer.byteLength(name) > 255) throw new ProtocolError(`VICI command or event name longer than 255 bytes: ${name.slice(0, 40)}…`);
    body.push(Buffer.from([Buffer.byteLength(name)]), Buffer.from(name));
  }
  if (msg) body.push(encodeMessage(msg));
  const b = Buffer.concat(body);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

type Waiter = { resolve: (p: { type: number; name?: string; msg: ViciMessage }) => void; reject: (e: Error) => void };

export class ViciClient {
  private buf: Buffer<ArrayBufferLike> = Buffer.alloc(0);
  private waiters: Waiter[] = [];
  private events = new Map<string, ((m: ViciMessage) => void)[]>();
  private queue: Promise<unknown> = Promise.resolve();
  private broken: Error | undefined;
  private onClosed: ((e: Error) => void) | undefined;
  /** Settles (never rejects) with the reason once the connection is closed or broken: a watcher reconnects then. */
  readonly closed: Promise<Error> = new Promise((resolve) => (this.onClosed = resolve));

  private constructor(
    private readonly s: Duplex,
    readonly device: string,
    private readonly timeoutMs: number,
  ) {
    s.on("data", (d: Buffer) => this.onData(d));
    s.on("error", (e: Error) => this.fail(new ConnectError(`${device}: VICI socket error: ${e.message}`, { device, cause: e })));
    s.on("close", () => this.fail(new ConnectError(`${device}: VICI socket closed`, { device })));
  }

  /** Over a local UNIX socket, or over any stream (e.g. SshConnection.forwardStreamLocal). */
  static async connect(o: { device: string; socketPath?: string; stream?: Duplex; timeoutMs?: number }): Promise<ViciClient> {
    if (o.stream) return new ViciClient(o.stream, o.device, o.timeoutMs ?? 30_000);
    const sock = netConnect(o.socketPath!);
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", resolve);
      sock.once("error", (e) =>
        reject(
          new ConnectError(`${o.device}: cannot reach charon's VICI socket ${o.socketPath}: ${e.message}`, {
            device: o.device,
            operation: "vici connect",
            cause: e,
          }),
        ),
      );
    });
    return new ViciClient(sock, o.device, o.timeoutMs ?? 30_000);
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    try {
      while (this.buf.length >= 4) {
        const n = this.buf.readUInt32BE(0);
        if (n > MAX_PACKET)
          throw new ProtocolError(`${this.device}: VICI packet of ${n} bytes exceeds ${MAX_PACKET}`, { device: this.device });
        if (this.buf.length < 4 + n) return;
        const p = this.buf.subarray(4, 4 + n);
        this.buf = this.buf.subarray(4 + n);
        if (p.length === 0) throw new ProtocolError(`${this.device}: empty VICI packet`, { device: this.device });
        const type = p[0]!;
        if (type === Pkt.EVENT) {
          if (p.length < 2 || p.length < 2 + p[1]!)
            throw new ProtocolError(`${this.device}: truncated VICI event name`, { device: this.device });
          const nl = p[1]!;
          const name = p.subarray(2, 2 + nl).toString();
          const msg = this.decode(p.subarray(2 + nl));
          for (const h of this.events.get(name) ?? []) h(msg);
          continue;
        }
        // Decode before taking the waiter: if the packet is malformed, fail() must still find and reject it.
        if (this.waiters.length === 0)
          throw new ProtocolError(`${this.device}: unsolicited VICI packet type ${type}`, { device: this.device });
        const msg = type === Pkt.CMD_RESPONSE ? this.decode(p.subarray(1)) : {};
        this.waiters.shift()!.resolve({ type, msg });
      }
    } catch (e) {
      this.fail(e as Error);
    }
  }

  private decode(b: Buffer): ViciMessage {
    try {
      return decodeMessage(b);
    } catch (e) {
      throw new ProtocolError(`${this.device}: malformed VICI message: ${(e as Error).message}`, { device: this.device, cause: e });
    }
  }

  private fail(e: Error): void {
    if (this.broken) return;
    this.broken = e;
    for (const w of this.waiters.splice(0)) w.reject(e);
    this.s.destroy();
    this.onClosed?.(e);
  }

  private send(type: Pkt, name: string, msg: ViciMessage | undefined, operation: string): Promise<{ type: number; msg: ViciMessage }> {
    return new Promise((resolve, reject) => {
      if (this.broken) return reject(this.broken);
      const timer = setTimeout(
        () =>
          this.fail(
            new TimeoutError(`${this.device}: VICI ${operation} got no answer within ${this.timeoutMs} ms`, {
              device: this.device,
              operation,
            }),
          ),
        this.timeoutMs,
      );
      this.waiters.push({ resolve: (r) => (clearTimeout(timer), resolve(r)), reject: (e) => (clearTimeout(timer), reject(e)) });
      this.s.write(packet(type, name, msg));
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** A command; a response with success=no becomes a DeviceError carrying charon's errmsg. */
  request(cmd: string, msg: ViciMessage = {}): Promise<ViciMessage> {
    return this.serial(async () => {
      const r = await this.send(Pkt.CMD_REQUEST, cmd, msg, cmd);
      if (r.type === Pkt.CMD_UNKNOWN)
        throw new ProtocolError(`${this.device}: charon does not know the VICI command "${cmd}"`, { device: this.device, operation: cmd });
      if (r.msg.success === "no")
        throw new DeviceError("vici", `${this.device}: ${cmd} failed: ${String(r.msg.errmsg ?? "no reason given")}`, undefined, {
          device: this.device,
          operation: cmd,
        });
      return r.msg;
    });
  }

  /** A streaming command: every `event` message it produces, in order, then its final response. */
  stream(cmd: string, event: string, msg: ViciMessage = {}): Promise<{ events: ViciMessage[]; response: ViciMessage }> {
    return this.serial(async () => {
      const events: ViciMessage[] = [];
      const handler = (m: ViciMessage) => events.push(m);
      const reg = await this.send(Pkt.EVENT_REGISTER, event, undefined, `register ${event}`);
      if (reg.type !== Pkt.EVENT_CONFIRM)
        throw new ProtocolError(`${this.device}: charon refused to register event "${event}"`, { device: this.device, operation: cmd });
      this.events.set(event, [...(this.events.get(event) ?? []), handler]);
      try {
        const r = await this.send(Pkt.CMD_REQUEST, cmd, msg, cmd);
        if (r.msg.success === "no")
          throw new DeviceError("vici", `${this.device}: ${cmd} failed: ${String(r.msg.errmsg ?? "")}`, undefined, {
            device: this.device,
            operation: cmd,
          });
        return { events, response: r.msg };
      } finally {
        this.events.set(
          event,
          (this.events.get(event) ?? []).filter((h) => h !== handler),
        );
        await this.send(Pkt.EVENT_UNREGISTER, event, undefined, `unregister ${event}`).catch(() => undefined);
      }
    });
  }

  /**
   * Registers for charon's events (e.g. ike-updown, child-updown, child-rekey) for as long as this connection stays
   * open; `handler` gets each one with its name. The handler is in place before the register is sent, so an event
   * that follows the confirmation in the same read is not lost. A refused event name is a ProtocolError.
   */
  async listen(events: readonly string[], handler: (event: string, msg: ViciMessage) => void): Promise<void> {
    for (const event of events) {
      const h = (m: ViciMessage) => handler(event, m);
      this.events.set(event, [...(this.events.get(event) ?? []), h]);
      const r = await this.serial(() => this.send(Pkt.EVENT_REGISTER, event, undefined, `register ${event}`)).catch((e: Error) => {
        this.events.set(
          event,
          (this.events.get(event) ?? []).filter((x) => x !== h),
        );
        throw e;
      });
      if (r.type !== Pkt.EVENT_CONFIRM) {
        this.events.set(
          event,
          (this.events.get(event) ?? []).filter((x) => x !== h),
        );
        throw new ProtocolError(`${this.device}: charon refused to register event "${event}"`, {
          device: this.device,
          operation: `register ${event}`,
        });
      }
    }
  }

  close(): void {
    if (!this.broken) {
      this.broken = new ConnectError(`${this.device}: VICI connection closed`, { device: this.device });
      this.onClosed?.(this.broken);
    }
    this.s.end();
  }
}
