import fc from "fast-check";
import { Duplex } from "node:stream";
import { describe, expect, it } from "vitest";
import { ProtocolError } from "../../../src/errors.js";
import { decodeMessage, encodeMessage, ViciClient, type ViciMessage } from "../../../src/transport/vici.js";
import { fuzz, fuzzAsync, returnsOrTyped, settlesOrTyped, within } from "./fuzz.js";

/** A fake charon: answers the first request with `answer`. */
function charon(answer: Buffer): Duplex {
  let sent = false;
  const d: Duplex = new Duplex({
    read() {},
    write(_c, _e, cb) {
      if (!sent) {
        sent = true;
        setImmediate(() => d.push(answer));
      }
      cb();
    },
  });
  return d;
}
const framed = (body: Buffer) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
};

describe("fuzz findings: VICI", () => {
  it("V-1: a malformed CMD_RESPONSE (00 00 00 02 01 ad) fails the request at once, whatever the timeout", async () => {
    const v = await ViciClient.connect({ device: "h1", stream: charon(Buffer.from([0, 0, 0, 2, 1, 0xad])), timeoutMs: 600_000 });
    const e = await within(v.request("version"), 2000).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as Error).message).toMatch(/^h1: malformed VICI message: unknown VICI element type 173/);
  });

  it("a section named __proto__ is an ordinary key and does not replace the decoded object's prototype", () => {
    const b = Buffer.concat([
      Buffer.from([1, 9]),
      Buffer.from("__proto__"),
      Buffer.from([3, 1]),
      Buffer.from("x"),
      Buffer.from([0, 1]),
      Buffer.from("y"),
      Buffer.from([2]),
    ]);
    const m = decodeMessage(b);
    expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
    expect(Object.hasOwn(m, "__proto__")).toBe(true);
    expect(Object.getOwnPropertyDescriptor(m, "__proto__")?.value).toEqual({ x: "y" });
    expect((m as { x?: unknown }).x).toBeUndefined();
  });

  it("an empty packet and a truncated event name are protocol errors, not a resolved request", async () => {
    const v = await ViciClient.connect({ device: "h1", stream: charon(Buffer.from([0, 0, 0, 0])), timeoutMs: 600_000 });
    await expect(within(v.request("version"), 2000)).rejects.toThrowError(/h1: empty VICI packet/);
    const w = await ViciClient.connect({ device: "h1", stream: charon(framed(Buffer.from([7, 9, 0x61]))), timeoutMs: 600_000 });
    await expect(within(w.request("version"), 2000)).rejects.toThrowError(/h1: truncated VICI event name/);
  });
});

describe("fuzz: VICI decoding", () => {
  const message: fc.Arbitrary<ViciMessage> = fc.letrec<{ m: ViciMessage }>((tie) => ({
    m: fc.dictionary(
      fc.oneof(fc.constantFrom("__proto__", "constructor", "toString", "success", "errmsg"), fc.string({ minLength: 1, maxLength: 12 })),
      fc.oneof({ depthSize: "small" }, fc.string({ maxLength: 20 }), fc.array(fc.string({ maxLength: 10 }), { maxLength: 4 }), tie("m")),
      { maxKeys: 5 },
    ) as fc.Arbitrary<ViciMessage>,
  })).m;

  it("any bytes: a message or a ProtocolError", () => {
    const el = fc.oneof(
      fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
      fc
        .array(
          fc.oneof(
            fc.constantFrom(...[1, 2, 3, 4, 5, 6].map((t) => Buffer.from([t]))),
            fc.uint8Array({ maxLength: 6 }).map((a) => Buffer.from(a)),
          ),
          { maxLength: 12 },
        )
        .map((a) => Buffer.concat(a)),
    );
    fuzz("vici-decode", el, (b) => {
      const m = returnsOrTyped(() => decodeMessage(b));
      if (!(m instanceof ProtocolError)) expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
    });
  });

  it("encode then decode gives back the same message, for any keys", () => {
    fuzz("vici-roundtrip", message, (m) => {
      const back = decodeMessage(encodeMessage(m));
      expect(JSON.stringify(back)).toBe(JSON.stringify(m));
    });
  });

  it("a client fed any answer bytes settles every request with a reply or a typed error", async () => {
    const answer = fc.oneof(
      fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
      fc
        .tuple(fc.constantFrom(1, 2, 5, 6, 7, 0, 9), fc.uint8Array({ maxLength: 30 }))
        .map(([t, a]) => framed(Buffer.concat([Buffer.from([t]), Buffer.from(a)]))),
      fc
        .tuple(message, fc.constantFrom(1, 7))
        .map(([m, t]) => framed(Buffer.concat([Buffer.from(t === 7 ? [7, 1, 0x65] : [t]), encodeMessage(m)]))),
    );
    await fuzzAsync(
      "vici-client",
      answer,
      async (a) => {
        const v = await ViciClient.connect({ device: "h1", stream: charon(a), timeoutMs: 30 });
        await settlesOrTyped(v.request("version"), 2000);
        v.close();
      },
      200,
    );
  });
});
