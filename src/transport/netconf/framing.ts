import { ProtocolError } from "../../errors.js";

/**
 * RFC 6242 message framing.
 * - base:1.0 "end-of-message": each message is followed by `]]>]]>`.
 * - base:1.1 "chunked": a message is one or more chunks `\n#<size>\n<size bytes>` and then `\n##\n`. A size is
 *   1..4294967295 with no leading zero.
 * The hello is always end-of-message framed; both sides switch to chunked after it if both offered base:1.1.
 *
 * The decoder works on bytes (chunk sizes count bytes, not characters), survives any split of the stream, and
 * refuses a message larger than `maxMessageBytes` before buffering it.
 */
export type Framing = "eom" | "chunked";

const EOM = Buffer.from("]]>]]>");
const LF = 0x0a;
const HASH = 0x23;

export function encodeMessage(xml: string, framing: Framing): Buffer {
  const body = Buffer.from(xml, "utf8");
  if (framing === "eom") return Buffer.concat([body, EOM]);
  return Buffer.concat([Buffer.from(`\n#${body.length}\n`), body, Buffer.from("\n##\n")]);
}

type State = "lf" | "hash" | "size-or-end" | "size" | "data" | "end-lf";

/**
 * Bytes received and not yet framed, in one growable buffer (capacity doubles), so that a peer sending a byte at a
 * time costs linear time, not a `Buffer.concat` of everything so far on every data event.
 */
class ByteQueue {
  private store: Buffer = Buffer.alloc(0);
  private start = 0;
  private end = 0;

  get length(): number {
    return this.end - this.start;
  }

  push(d: Buffer): void {
    if (this.end + d.length > this.store.length) {
      const live = this.length;
      const next = Buffer.allocUnsafe(Math.max(4096, 2 * (live + d.length)));
      this.store.copy(next, 0, this.start, this.end);
      this.store = next;
      this.start = 0;
      this.end = live;
    }
    d.copy(this.store, this.end);
    this.end += d.length;
  }

  /** The unread bytes; valid until the next push. */
  view(): Buffer {
    return this.store.subarray(this.start, this.end);
  }

  consume(n: number): void {
    this.start += n;
    if (this.start >= this.end) this.clear();
  }

  clear(): void {
    this.start = this.end = 0;
    if (this.store.length > 1 << 20) this.store = Buffer.alloc(0);
  }
}

export class FrameDecoder {
  framing: Framing = "eom";
  private readonly buf = new ByteQueue();
  private scanFrom = 0;
  // chunked state
  private state: State = "lf";
  private size = 0;
  private sizeDigits = 0;
  private parts: Buffer[] = [];
  private total = 0;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly context: { device?: string } = {},
  ) {}

  push(data: Buffer): void {
    this.buf.push(data);
  }

  /** Switch framing between messages (after the hello exchange). */
  setFraming(f: Framing): void {
    this.framing = f;
    this.state = "lf";
  }

  /** The next complete message, or undefined if more bytes are needed. Throws ProtocolError on bad framing. */
  next(): string | undefined {
    return this.framing === "eom" ? this.nextEom() : this.nextChunked();
  }

  private fail(msg: string): never {
    throw new ProtocolError(`NETCONF framing error${this.context.device ? ` from ${this.context.device}` : ""}: ${msg}`, {
      ...(this.context.device ? { device: this.context.device } : {}),
      operation: "read",
    });
  }

  private nextEom(): string | undefined {
    const b = this.buf.view();
    const at = b.indexOf(EOM, Math.max(0, this.scanFrom - (EOM.length - 1)));
    if (at < 0) {
      if (b.length > this.maxMessageBytes) {
        this.buf.clear();
        this.fail(`message exceeds the ${this.maxMessageBytes}-byte limit without an end-of-message marker`);
      }
      this.scanFrom = b.length;
      return undefined;
    }
    if (at > this.maxMessageBytes) {
      this.buf.clear();
      this.fail(`message of ${at} bytes exceeds the ${this.maxMessageBytes}-byte limit`);
    }
    const msg = b.subarray(0, at).toString("utf8");
    this.buf.consume(at + EOM.length);
    this.scanFrom = 0;
    return msg;
  }

  private nextChunked(): string | undefined {
    let i = 0;
    const b = this.buf.view();
    const byte = (c: number) => (c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `0x${c.toString(16).padStart(2, "0")}`);
    try {
      while (i < b.length) {
        const c = b[i]!;
        switch (this.state) {
          case "lf":
            if (c !== LF) this.fail(`expected a chunk header "\\n#", got ${byte(c)}`);
            this.state = "hash";
            i++;
            break;
          case "hash":
            if (c !== HASH) this.fail(`expected "#" after the newline of a chunk header, got ${byte(c)}`);
            this.state = "size-or-end";
            i++;
            break;
          case "size-or-end":
            if (c === HASH) {
              this.state = "end-lf";
              i++;
            } else if (c >= 0x31 && c <= 0x39) {
              this.size = c - 0x30;
              this.sizeDigits = 1;
              this.state = "size";
              i++;
            } else this.fail(`expected a chunk size (1-9) or "#", got ${byte(c)}`);
            break;
          case "size":
            if (c >= 0x30 && c <= 0x39) {
              this.size = this.size * 10 + (c - 0x30);
              if (++this.sizeDigits > 10 || this.size > 4294967295) this.fail("chunk size out of range");
              i++;
            } else if (c === LF) {
              if (this.total + this.size > this.maxMessageBytes)
                this.fail(`message exceeds the ${this.maxMessageBytes}-byte limit (chunk of ${this.size} bytes)`);
              this.state = "data";
              i++;
            } else this.fail(`bad character ${byte(c)} in a chunk size`);
            break;
          case "data": {
            const take = Math.min(this.size, b.length - i);
            this.parts.push(Buffer.from(b.subarray(i, i + take))); // a copy: the queue reuses its storage
            this.total += take;
            this.size -= take;
            i += take;
            if (this.size === 0) this.state = "lf";
            break;
          }
          case "end-lf": {
            if (c !== LF) this.fail(`expected a newline after "##", got ${byte(c)}`);
            i++;
            if (this.parts.length === 0) this.fail("end-of-chunks with no chunk before it");
            const msg = Buffer.concat(this.parts).toString("utf8");
            this.parts = [];
            this.total = 0;
            this.state = "lf";
            this.buf.consume(i);
            return msg;
          }
        }
      }
      this.buf.clear();
      return undefined;
    } catch (e) {
      this.buf.clear();
      throw e;
    }
  }
}
