import { describe, expect, it } from "vitest";
import { ProtocolError } from "../../../src/errors.js";
import { encodeMessage, FrameDecoder } from "../../../src/transport/netconf/framing.js";

function drain(d: FrameDecoder): string[] {
  const out: string[] = [];
  for (let m = d.next(); m !== undefined; m = d.next()) out.push(m);
  return out;
}

const msgs = ['<rpc-reply message-id="1"><ok/></rpc-reply>', '<rpc-reply message-id="2"><data>é ü 中</data></rpc-reply>'];

describe("transport: netconf-framing", () => {
  for (const framing of ["eom", "chunked"] as const) {
    it(`${framing}: decodes two messages split at every possible byte`, () => {
      const wire = Buffer.concat(msgs.map((m) => encodeMessage(m, framing)));
      for (let cut1 = 0; cut1 <= wire.length; cut1++) {
        const d = new FrameDecoder(1 << 20);
        d.setFraming(framing);
        const got: string[] = [];
        d.push(wire.subarray(0, cut1));
        got.push(...drain(d));
        d.push(wire.subarray(cut1));
        got.push(...drain(d));
        expect(got).toEqual(msgs);
      }
    });
    it(`${framing}: decodes a stream fed one byte at a time`, () => {
      const wire = Buffer.concat(msgs.map((m) => encodeMessage(m, framing)));
      const d = new FrameDecoder(1 << 20);
      d.setFraming(framing);
      const got: string[] = [];
      for (const b of wire) {
        d.push(Buffer.from([b]));
        got.push(...drain(d));
      }
      expect(got).toEqual(msgs);
    });
  }

  it("chunk sizes count bytes, not characters, and a message may have many chunks", () => {
    const d = new FrameDecoder(1 << 20);
    d.setFraming("chunked");
    d.push(Buffer.from("\n#4\n<rpc\n#3\n-re\n#6\nply/>é\n##\n".replace("#6", `#${Buffer.byteLength("ply/>é")}`)));
    expect(drain(d)).toEqual(["<rpc-reply/>é"]);
  });

  it("switches framing between messages without losing buffered bytes", () => {
    const d = new FrameDecoder(1 << 20);
    d.push(Buffer.concat([encodeMessage("<hello/>", "eom"), encodeMessage("<rpc-reply/>", "chunked")]));
    expect(d.next()).toBe("<hello/>");
    d.setFraming("chunked");
    expect(d.next()).toBe("<rpc-reply/>");
  });

  it.each([
    ["garbage instead of a chunk header", "xyz", /expected a chunk header/],
    ["a leading zero in a chunk size", "\n#012\n", /chunk size \(1-9\)/],
    ["a letter in a chunk size", "\n#1a\n", /bad character 'a' in a chunk size/],
    ["end-of-chunks with no chunk", "\n##\n", /no chunk before it/],
    ["a truncated end marker followed by junk", "\n#2\nab\n#x", /chunk size \(1-9\) or "#"/],
    ["a chunk size beyond 2^32-1", "\n#99999999999\n", /out of range/],
  ])("chunked: refuses %s", (_, wire, msg) => {
    const d = new FrameDecoder(1 << 20, { device: "sw1" });
    d.setFraming("chunked");
    d.push(Buffer.from(wire));
    expect(() => drain(d)).toThrowError(msg);
    try {
      d.push(Buffer.from(wire));
      drain(d);
    } catch (e) {
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as ProtocolError).device).toBe("sw1");
    }
  });

  it("refuses an oversized chunked message from its header, before buffering it", () => {
    const d = new FrameDecoder(1000);
    d.setFraming("chunked");
    d.push(Buffer.from("\n#5000\n"));
    expect(() => d.next()).toThrowError(/exceeds the 1000-byte limit/);
  });

  it("refuses an oversized end-of-message stream without a marker", () => {
    const d = new FrameDecoder(1000);
    d.push(Buffer.alloc(1500, 0x41));
    expect(() => d.next()).toThrowError(/exceeds the 1000-byte limit/);
  });

  it("leaves a truncated message pending rather than returning part of it", () => {
    const d = new FrameDecoder(1 << 20);
    d.setFraming("chunked");
    d.push(Buffer.from("\n#10\n<rpc-re"));
    expect(d.next()).toBeUndefined();
  });
});
