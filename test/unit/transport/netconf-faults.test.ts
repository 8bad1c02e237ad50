import { Duplex } from "node:stream";
import { describe, expect, it } from "vitest";
import { ConnectError, ProtocolError, TimeoutError } from "../../../src/errors.js";
import { encodeMessage } from "../../../src/transport/netconf/framing.js";
import { type NetconfRpcError, NetconfSession } from "../../../src/transport/netconf/client.js";

/** In-process fake NETCONF peer for fault injection: it answers each client message with what `reply` returns. */
function fakePeer(reply: (msg: string, n: number) => Buffer | string | undefined, hello = helloMsg(true)) {
  let n = 0;
  let buf = "";
  const d: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      buf += chunk.toString();
      // The client's hello is end-of-message framed; later messages are chunked: hand over complete ones only.
      const done = buf.includes("]]>]]>") || /\n##\n$/.test(buf);
      if (done) {
        const r = reply(buf, n++);
        buf = "";
        if (r !== undefined) setImmediate(() => d.push(r));
      }
      cb();
    },
  });
  setImmediate(() => d.push(hello));
  return d;
}
function helloMsg(base11: boolean): Buffer {
  const base11Capability = base11 ? "<capability>urn:ietf:params:netconf:base:1.1</capability>" : "";
  return encodeMessage(
    '<hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><capabilities><capability>urn:ietf:params:netconf:base:1.0</capability>' +
      `${base11Capability}</capabilities><session-id>7</session-id></hello>`,
    "eom",
  );
}
const idOf = (msg: string) => /message-id="(\d+)"/.exec(msg)?.[1];
const ok = (msg: string) =>
  encodeMessage(`<rpc-reply message-id="${idOf(msg)}" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><ok/></rpc-reply>`, "chunked");

describe("transport: netconf-client faults (in-process fake peer)", () => {
  it("a reply whose message-id does not match is a protocol error naming device and operation", async () => {
    const nc = await NetconfSession.open(
      fakePeer((_m, i) => (i === 0 ? undefined : encodeMessage('<rpc-reply message-id="999"><ok/></rpc-reply>', "chunked"))),
      { device: "sw9" },
    );
    const e = await nc.lock("candidate").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as ProtocolError).message).toBe('sw9: lock: reply carries message-id "999", expected "101"');
    expect((e as ProtocolError).operation).toBe("lock");
    // the session is unusable afterwards, and says so
    await expect(nc.unlock("candidate")).rejects.toBeInstanceOf(ProtocolError);
  });

  it("garbled chunk framing is a protocol error, and nothing after it is trusted", async () => {
    const nc = await NetconfSession.open(
      fakePeer((_m, i) => (i === 0 ? undefined : "\n#12x\n<rpc-reply/>\n##\n")),
      { device: "sw9" },
    );
    const e = await nc.getConfig("running").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as Error).message).toMatch(/sw9.*bad character 'x' in a chunk size/);
  });

  it("an oversized message is refused", async () => {
    const nc = await NetconfSession.open(
      fakePeer((_m, i) => (i === 0 ? undefined : `\n#${5_000_000}\n`)),
      { device: "sw9", maxMessageBytes: 1_000_000 },
    );
    await expect(nc.get()).rejects.toThrowError(/exceeds the 1000000-byte limit/);
  });

  it("a truncated reply followed by a closed channel is a connect error, not a hang", async () => {
    let peer: Duplex | undefined;
    peer = fakePeer((_m, i) => {
      if (i === 0) return undefined;
      setTimeout(() => peer!.destroy(), 20);
      return "\n#100\n<rpc-reply message";
    });
    const nc = await NetconfSession.open(peer, { device: "sw9" });
    await expect(nc.get()).rejects.toBeInstanceOf(ConnectError);
  });

  it("a reply that never comes times out", async () => {
    const nc = await NetconfSession.open(
      fakePeer(() => undefined),
      { device: "sw9", rpcTimeoutMs: 200 },
    );
    const e = await nc.get().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TimeoutError);
    expect((e as Error).message).toBe("sw9: get got no reply within 200 ms");
  });

  it("a hello that is not XML is refused", async () => {
    await expect(
      NetconfSession.open(
        fakePeer(() => undefined, encodeMessage("<hello><unclosed>", "eom")),
        { device: "sw9" },
      ),
    ).rejects.toThrowError(/server hello is not well-formed XML/);
  });

  it("falls back to end-of-message framing with a base:1.0-only server", async () => {
    const nc = await NetconfSession.open(
      fakePeer(
        (m, i) => (i === 0 ? undefined : encodeMessage(`<rpc-reply message-id="${idOf(m)}"><ok/></rpc-reply>`, "eom")),
        helloMsg(false),
      ),
      { device: "sw9" },
    );
    expect(nc.framing).toBe("eom");
    await nc.lock("candidate");
  });

  it("multiple rpc-errors are all kept; warnings do not fail the RPC", async () => {
    const errs =
      "<rpc-error><error-type>application</error-type><error-tag>invalid-value</error-tag><error-severity>error</error-severity>" +
      "<error-path>/a/b</error-path><error-message>bad b</error-message></rpc-error>\n" +
      "                  <rpc-error><error-type>application</error-type><error-tag>data-missing</error-tag>" +
      "<error-severity>error</error-severity></rpc-error>";
    const warningOnly = "<nc:rpc-error><nc:error-tag>x</nc:error-tag><nc:error-severity>warning</nc:error-severity></nc:rpc-error><nc:ok/>";
    const nc = await NetconfSession.open(
      fakePeer((m, i) =>
        i === 0
          ? undefined
          : encodeMessage(
              `<nc:rpc-reply xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="${idOf(m)}">${i === 1 ? errs : warningOnly}</nc:rpc-reply>`,
              "chunked",
            ),
      ),
      { device: "sw9" },
    );
    const e = (await nc.editConfig("candidate", "<config/>").catch((x: unknown) => x)) as NetconfRpcError;
    expect(e.errors.map((x) => x.tag)).toEqual(["invalid-value", "data-missing"]);
    expect(e.message).toBe("sw9: edit-config failed: invalid-value: bad b (at /a/b) (+1 more error(s))");
    const r = await nc.commit();
    expect(r.warnings[0]!.tag).toBe("x");
    void ok;
  });
});

describe("drivers: NETCONF transaction against a session that never answers (in-process fake peer)", () => {
  it("a lock with no reply drops that session and locks once more on a new one; a second silence fails", async () => {
    const { netconfTransaction } = await import("../../../drivers/shared/netconf-transaction.js");
    const hello = encodeMessage(
      '<hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><capabilities><capability>urn:ietf:params:netconf:base:1.1</capability>' +
        "<capability>urn:ietf:params:netconf:capability:candidate:1.0</capability></capabilities><session-id>8</session-id></hello>",
      "eom",
    );
    const run = async (silentSessions: number) => {
      const seen: string[][] = [];
      const ssh = async () => ({
        subsystem: async () => {
          const mine: string[] = [];
          seen.push(mine);
          const silent = seen.length <= silentSessions;
          return fakePeer((m, i) => {
            if (i > 0) mine.push(/<rpc [^>]*>(<[\w-]+)/.exec(m)?.[1] ?? "?");
            return i === 0 || silent ? undefined : ok(m);
          }, hello);
        },
      });
      const tx = netconfTransaction(
        {
          device: "sw9",
          profile: {},
          commandTimeoutMs: 200,
          now: () => new Date(),
          ssh: ssh as never,
          snmp: () => {
            throw new Error("no snmp");
          },
        },
        { driver: "fake", render: () => "<config/>", filter: "<x/>", secretLeaves: new Set() },
      );
      const r = await tx.loadCandidate({ kind: "l1", settings: {} }).then(
        () => "staged",
        (e: Error) => e,
      );
      return { r, seen };
    };
    const once = await run(1);
    expect(once.r).toBe("staged");
    expect(once.seen).toEqual([["<lock"], ["<lock", "<discard-changes", "<edit-config"]]);
    const twice = await run(2);
    expect(twice.r).toBeInstanceOf(TimeoutError);
    expect((twice.r as Error).message).toBe("sw9: lock got no reply within 200 ms");
    expect(twice.seen.length).toBe(2);
  });
});
