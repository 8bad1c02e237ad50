import type { Duplex } from "node:stream";
import { ConnectError, DeviceError, ProtocolError, TimeoutError } from "../../errors.js";
import { encodeMessage, FrameDecoder, type Framing } from "./framing.js";
import { childText, children, escapeXml, innerXml, parseXml, type XmlNode } from "./xml.js";

/**
 * A small NETCONF client (RFC 6241 operations, RFC 6242 framing) over any duplex byte stream, normally an ssh2
 * `netconf` subsystem channel. One RPC is in flight at a time; a reply whose message-id is not the one we sent
 * breaks the session, since nothing after it can be trusted.
 *
 * Example:
 *   const nc = await NetconfSession.open(channel, { device: "ams1-sw1" });
 *   const cfg = await nc.getConfig("running", '<macsec xmlns="urn:acme:yang:acme-macsec"/>');
 *   await nc.editConfig("candidate", "<config>...</config>", { errorOption: "rollback-on-error" });
 *   await nc.commit({ confirmed: true, confirmTimeout: 120 });   // then nc.commit() to confirm
 */
export const NC_BASE = "urn:ietf:params:xml:ns:netconf:base:1.0";
export const CAP_BASE_10 = "urn:ietf:params:netconf:base:1.0";
export const CAP_BASE_11 = "urn:ietf:params:netconf:base:1.1";

export interface NetconfOptions {
  device: string;
  /** How long to wait for the server's hello, ms. */
  helloTimeoutMs?: number;
  /** Default per-RPC timeout, ms. */
  rpcTimeoutMs?: number;
  /** Largest message accepted from the server, bytes. */
  maxMessageBytes?: number;
  /** Offer base:1.1 (chunked framing). Default true. */
  offerBase11?: boolean;
}

export interface RpcErrorInfo {
  type: string | undefined;
  tag: string;
  severity: string | undefined;
  path: string | undefined;
  message: string | undefined;
  appTag: string | undefined;
}

/** An `<rpc-error>` from the server, with its error-tag, error-path and error-message. */
export class NetconfRpcError extends DeviceError {
  readonly errors: RpcErrorInfo[];
  constructor(device: string, operation: string, errors: RpcErrorInfo[]) {
    const e = errors[0]!;
    super(
      e.tag,
      `${device}: ${operation} failed: ${e.tag}${e.message ? `: ${e.message}` : ""}${e.path ? ` (at ${e.path})` : ""}${errors.length > 1 ? ` (+${errors.length - 1} more error(s))` : ""}`,
      e.path,
      { device, operation },
    );
    this.errors = errors;
  }
}

export interface RpcReply {
  /** The reply as xml2js parsed it (prefixes stripped). */
  reply: XmlNode;
  /** The raw reply XML. */
  xml: string;
  /** Warnings (rpc-error with severity warning) that did not fail the RPC. */
  warnings: RpcErrorInfo[];
}

type Pending = { id: string; operation: string; resolve: (r: RpcReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

export class NetconfSession {
  readonly device: string;
  serverCapabilities: string[] = [];
  sessionId: string | undefined;
  framing: Framing = "eom";
  private readonly decoder: FrameDecoder;
  private nextId = 101;
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private broken: Error | undefined;
  private helloWaiter: { resolve: (x: string) => void; reject: (e: Error) => void } | undefined;
  private readonly rpcTimeoutMs: number;

  private constructor(
    private readonly stream: Duplex,
    opts: NetconfOptions,
  ) {
    this.device = opts.device;
    this.rpcTimeoutMs = opts.rpcTimeoutMs ?? 30_000;
    this.decoder = new FrameDecoder(opts.maxMessageBytes ?? 64 * 1024 * 1024, { device: opts.device });
    stream.on("data", (d: Buffer) => this.onData(d));
    stream.on("error", (e: Error) =>
      this.fail(new ConnectError(`${this.device}: NETCONF channel error: ${e.message}`, { device: this.device, cause: e })),
    );
    stream.on("close", () => this.fail(new ConnectError(`${this.device}: NETCONF session closed by the peer`, { device: this.device })));
  }

  /** Exchange hellos and pick the framing: chunked if both sides offer base:1.1. */
  static async open(stream: Duplex, opts: NetconfOptions): Promise<NetconfSession> {
    const s = new NetconfSession(stream, opts);
    const caps = [CAP_BASE_10, ...(opts.offerBase11 === false ? [] : [CAP_BASE_11])];
    const helloXml = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new TimeoutError(`${opts.device}: no NETCONF hello within ${opts.helloTimeoutMs ?? 10_000} ms`, {
              device: opts.device,
              operation: "hello",
            }),
          ),
        opts.helloTimeoutMs ?? 10_000,
      );
      s.helloWaiter = {
        resolve: (x) => (clearTimeout(timer), resolve(x)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      stream.write(
        encodeMessage(
          `<?xml version="1.0" encoding="UTF-8"?><hello xmlns="${NC_BASE}"><capabilities>${caps.map((c) => `<capability>${c}</capability>`).join("")}</capabilities></hello>`,
          "eom",
        ),
      );
    });
    let parsed: Record<string, XmlNode>;
    try {
      parsed = await parseXml(helloXml);
    } catch (e) {
      throw s.fail(
        new ProtocolError(`${opts.device}: the server hello is not well-formed XML: ${(e as Error).message}`, {
          device: opts.device,
          operation: "hello",
          cause: e,
        }),
      );
    }
    const hello = Object.hasOwn(parsed, "hello") ? parsed.hello : undefined;
    if (!hello)
      throw s.fail(
        new ProtocolError(`${opts.device}: expected <hello>, got <${Object.keys(parsed)[0]}>`, { device: opts.device, operation: "hello" }),
      );
    s.serverCapabilities = children(children(hello, "capabilities")[0], "capability").map((c) => (c._ ?? "").trim());
    s.sessionId = childText(hello, "session-id");
    if (!s.serverCapabilities.includes(CAP_BASE_10) && !s.serverCapabilities.includes(CAP_BASE_11))
      throw s.fail(
        new ProtocolError(`${opts.device}: the server offers neither base:1.0 nor base:1.1`, { device: opts.device, operation: "hello" }),
      );
    s.framing = opts.offerBase11 !== false && s.serverCapabilities.includes(CAP_BASE_11) ? "chunked" : "eom";
    s.decoder.setFraming(s.framing);
    s.drain();
    return s;
  }

  hasCapability(prefix: string): boolean {
    return this.serverCapabilities.some((c) => c.startsWith(prefix));
  }

  private onData(d: Buffer): void {
    if (this.broken) return;
    this.decoder.push(d);
    this.drain();
  }

  private drain(): void {
    try {
      for (;;) {
        const msg = this.decoder.next();
        if (msg === undefined) return;
        if (this.helloWaiter) {
          const w = this.helloWaiter;
          this.helloWaiter = undefined;
          w.resolve(msg);
          return; // open() switches framing, then drains the rest
        }
        // onMessage must never reject unhandled: whatever it throws breaks this session, not the process.
        this.onMessage(msg).catch((e: unknown) =>
          this.fail(
            e instanceof ProtocolError
              ? e
              : new ProtocolError(`${this.device}: unreadable reply: ${(e as Error)?.message ?? String(e)}`, {
                  device: this.device,
                  cause: e,
                }),
          ),
        );
      }
    } catch (e) {
      this.fail(e as Error);
    }
  }

  private async onMessage(xml: string): Promise<void> {
    const p = this.pending;
    if (!p)
      return void this.fail(new ProtocolError(`${this.device}: unsolicited message with no request outstanding`, { device: this.device }));
    let parsed: Record<string, XmlNode>;
    try {
      parsed = await parseXml(xml);
    } catch (e) {
      return void this.fail(
        new ProtocolError(`${this.device}: ${p.operation} reply is not well-formed XML: ${(e as Error).message}`, {
          device: this.device,
          operation: p.operation,
          cause: e,
        }),
      );
    }
    const reply = Object.hasOwn(parsed, "rpc-reply") ? parsed["rpc-reply"] : undefined;
    if (!reply)
      return void this.fail(
        new ProtocolError(`${this.device}: ${p.operation}: expected <rpc-reply>, got <${Object.keys(parsed)[0]}>`, {
          device: this.device,
          operation: p.operation,
        }),
      );
    const attrs = reply.$;
    const id = attrs !== null && typeof attrs === "object" && typeof attrs["message-id"] === "string" ? attrs["message-id"] : undefined;
    if (id !== p.id)
      return void this.fail(
        new ProtocolError(
          `${this.device}: ${p.operation}: reply carries message-id ${id === undefined ? "(none)" : `"${id}"`}, expected "${p.id}"`,
          { device: this.device, operation: p.operation },
        ),
      );
    this.pending = undefined;
    clearTimeout(p.timer);
    const errs = children(reply, "rpc-error").map((e) => ({
      type: childText(e, "error-type"),
      tag: childText(e, "error-tag") ?? "unknown",
      severity: childText(e, "error-severity"),
      path: childText(e, "error-path")?.trim(),
      message: childText(e, "error-message")?.trim(),
      appTag: childText(e, "error-app-tag"),
    }));
    const errors = errs.filter((e) => e.severity !== "warning");
    if (errors.length > 0) p.reject(new NetconfRpcError(this.device, p.operation, errors));
    else p.resolve({ reply, xml, warnings: errs.filter((e) => e.severity === "warning") });
  }

  private fail(e: Error): Error {
    if (this.broken) return this.broken;
    this.broken = e;
    this.helloWaiter?.reject(e);
    this.helloWaiter = undefined;
    if (this.pending) {
      clearTimeout(this.pending.timer);
      this.pending.reject(e);
      this.pending = undefined;
    }
    this.stream.destroy();
    return e;
  }

  /** Send one RPC body (the XML inside `<rpc>`); resolves with the reply, rejects with NetconfRpcError etc. */
  rpc(operation: string, body: string, timeoutMs = this.rpcTimeoutMs): Promise<RpcReply> {
    const run = () =>
      new Promise<RpcReply>((resolve, reject) => {
        if (this.broken) return reject(this.broken);
        const id = String(this.nextId++);
        const timer = setTimeout(
          () =>
            this.fail(
              new TimeoutError(`${this.device}: ${operation} got no reply within ${timeoutMs} ms`, { device: this.device, operation }),
            ),
          timeoutMs,
        );
        this.pending = { id, operation, resolve, reject, timer };
        this.stream.write(encodeMessage(`<rpc message-id="${id}" xmlns="${NC_BASE}">${body}</rpc>`, this.framing));
      });
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  // --- RFC 6241 operations -------------------------------------------------------------------------------------

  async getConfig(source: "running" | "candidate" | "startup", subtreeFilter?: string): Promise<RpcReply> {
    return this.rpc("get-config", `<get-config><source><${source}/></source>${filter(subtreeFilter)}</get-config>`);
  }

  async get(subtreeFilter?: string): Promise<RpcReply> {
    return this.rpc("get", `<get>${filter(subtreeFilter)}</get>`);
  }

  async editConfig(
    target: "running" | "candidate",
    config: string,
    o: {
      defaultOperation?: "merge" | "replace" | "none";
      errorOption?: "stop-on-error" | "continue-on-error" | "rollback-on-error";
      testOption?: "test-then-set" | "set" | "test-only";
    } = {},
  ): Promise<RpcReply> {
    return this.rpc(
      "edit-config",
      `<edit-config><target><${target}/></target>${o.defaultOperation ? `<default-operation>${o.defaultOperation}</default-operation>` : ""}` +
        `${o.testOption ? `<test-option>${o.testOption}</test-option>` : ""}${o.errorOption ? `<error-option>${o.errorOption}</error-option>` : ""}${config}</edit-config>`,
    );
  }

  lock(target: "running" | "candidate", timeoutMs?: number): Promise<RpcReply> {
    return this.rpc("lock", `<lock><target><${target}/></target></lock>`, timeoutMs);
  }

  unlock(target: "running" | "candidate"): Promise<RpcReply> {
    return this.rpc("unlock", `<unlock><target><${target}/></target></unlock>`);
  }

  /** Plain commit, or a confirmed commit (`confirmed`, `confirmTimeout` s, `persist`); `persistId` confirms a persisted one. */
  commit(o: { confirmed?: boolean; confirmTimeout?: number; persist?: string; persistId?: string } = {}): Promise<RpcReply> {
    const parts = [
      o.confirmed ? "<confirmed/>" : "",
      o.confirmed && o.confirmTimeout !== undefined ? `<confirm-timeout>${Math.floor(o.confirmTimeout)}</confirm-timeout>` : "",
      o.persist !== undefined ? `<persist>${escapeXml(o.persist)}</persist>` : "",
      o.persistId !== undefined ? `<persist-id>${escapeXml(o.persistId)}</persist-id>` : "",
    ].join("");
    return this.rpc(o.confirmed ? "confirmed-commit" : "commit", `<commit>${parts}</commit>`);
  }

  cancelCommit(persistId?: string): Promise<RpcReply> {
    return this.rpc(
      "cancel-commit",
      `<cancel-commit>${persistId !== undefined ? `<persist-id>${escapeXml(persistId)}</persist-id>` : ""}</cancel-commit>`,
    );
  }

  discardChanges(): Promise<RpcReply> {
    return this.rpc("discard-changes", "<discard-changes/>");
  }

  validate(source: "running" | "candidate"): Promise<RpcReply> {
    return this.rpc("validate", `<validate><source><${source}/></source></validate>`);
  }

  /** Polite close: close-session, then end the channel. Never throws. */
  async close(): Promise<void> {
    if (!this.broken) {
      try {
        await this.rpc("close-session", "<close-session/>", 5000);
      } catch {
        /* the peer may already be gone */
      }
    }
    this.broken ??= new ConnectError(`${this.device}: NETCONF session closed`, { device: this.device });
    this.stream.end();
  }
}

function filter(subtree: string | undefined): string {
  return subtree === undefined ? "" : `<filter type="subtree">${subtree}</filter>`;
}

/** The raw XML inside the reply's `<data>` element (for get/get-config), or "" when empty. */
export function dataXml(r: RpcReply): string {
  return (innerXml(r.xml, "data", "last") ?? "").trim();
}
