import fc from "fast-check";
import { Duplex } from "node:stream";
import { describe, expect, it } from "vitest";
import { create as createJunos } from "../../../drivers/junos-macsec/index.js";
import { ProtocolError } from "../../../src/errors.js";
import { dataXml, NetconfSession } from "../../../src/transport/netconf/client.js";
import { encodeMessage, FrameDecoder, type Framing } from "../../../src/transport/netconf/framing.js";
import { parseXml } from "../../../src/transport/netconf/xml.js";
import { fuzz, fuzzAsync, nastyString, returnsOrTyped, settlesOrTyped, within } from "./fuzz.js";

const NC = "urn:ietf:params:xml:ns:netconf:base:1.0";
const hello = (base11 = true) =>
  encodeMessage(
    `<hello xmlns="${NC}"><capabilities><capability>urn:ietf:params:netconf:base:1.0</capability>${base11 ? "<capability>urn:ietf:params:netconf:base:1.1</capability>" : ""}</capabilities></hello>`,
    "eom",
  );

/** A fake server: sends `first` as its hello, then answers the n-th rpc with reply(msg, n). */
function peer(first: Buffer | string, reply: (msg: string, n: number) => Buffer | string | undefined = () => undefined): Duplex {
  let n = 0;
  let buf = "";
  const d: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _e, cb) {
      buf += chunk.toString();
      if (buf.includes("]]>]]>") || /\n##\n$/.test(buf)) {
        const r = n === 0 ? undefined : reply(buf, n);
        n++;
        buf = "";
        if (r !== undefined) setImmediate(() => d.push(r));
      }
      cb();
    },
  });
  setImmediate(() => d.push(first));
  return d;
}
const idOf = (msg: string) => /message-id="(\d+)"/.exec(msg)?.[1];

describe("fuzz findings: NETCONF", () => {
  it("N-1: a hello that is empty or has no root element is a ProtocolError, not a TypeError", async () => {
    for (const h of ["", " ", "\n"]) {
      const e = await NetconfSession.open(peer(encodeMessage(h, "eom")), { device: "sw9", helloTimeoutMs: 2000 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as Error).message).toMatch(/^sw9: the server hello/);
    }
  });

  it("N-2: an rpc-reply with no root element (chunk `\\n#1\\n \\n##\\n`) fails the RPC, and the process lives", async () => {
    const nc = await NetconfSession.open(
      peer(hello(), () => "\n#1\n \n##\n"),
      { device: "sw9" },
    );
    const e = await within(nc.get(), 3000).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as Error).message).toMatch(/sw9: get reply is not well-formed XML: XML document has no root element/);
  });

  it("N-3: after one parse error, a later document without a root element still settles (no shared parser)", async () => {
    await parseXml("<a><b></a>").catch(() => undefined);
    await expect(within(parseXml(""), 2000)).rejects.toBeInstanceOf(ProtocolError);
    await expect(within(parseXml(" "), 2000)).rejects.toBeInstanceOf(ProtocolError);
    const e = await within(NetconfSession.open(peer(encodeMessage("", "eom")), { device: "sw9", helloTimeoutMs: 60_000 }), 3000).catch(
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(ProtocolError);
  });

  it("XML entity definitions are refused with a message naming the limit", async () => {
    const bomb = `<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><rpc-reply message-id="101">&b;</rpc-reply>`;
    await expect(parseXml(bomb)).rejects.toThrowError(/DOCTYPE is refused.*limit: 0 entity expansions/);
    const nc = await NetconfSession.open(
      peer(hello(), () => encodeMessage(bomb, "chunked")),
      { device: "sw9" },
    );
    await expect(nc.get()).rejects.toThrowError(/sw9: get reply .*DOCTYPE is refused/);
  });

  it("dataXml is linear on a reply full of unclosed tags (was quadratic: 15x the time for 4x the input)", () => {
    const xml = `<rpc-reply message-id="1"><data ${"<data x ".repeat(40_000)}`;
    const t = performance.now();
    expect(dataXml({ xml, reply: {}, warnings: [] })).toBe("");
    expect(performance.now() - t).toBeLessThan(500);
    // and it still finds the data, with or without a prefix
    expect(dataXml({ xml: `<rpc-reply><nc:data xmlns:nc="x"><a/></nc:data></rpc-reply>`, reply: {}, warnings: [] })).toBe("<a/>");
    expect(dataXml({ xml: `<rpc-reply><data/></rpc-reply>`, reply: {}, warnings: [] })).toBe("");
  });

  it("the Junos <output> scan is linear on a (well-formed: CDATA) reply full of unclosed <output tags", async () => {
    const ssh = {
      subsystem: async () =>
        peer(hello(), (m) => {
          const id = idOf(m);
          if (m.includes("<get-config>"))
            return encodeMessage(`<rpc-reply message-id="${id}" xmlns="${NC}"><data/></rpc-reply>`, "chunked");
          return encodeMessage(
            `<rpc-reply message-id="${id}" xmlns="${NC}"><x><![CDATA[${"<output ".repeat(20_000)}]]></x></rpc-reply>`,
            "chunked",
          );
        }),
    };
    const d = createJunos({
      device: "j1",
      profile: {},
      ssh: async () => ssh as never,
      snmp: () => {
        throw new Error("no snmp");
      },
      commandTimeoutMs: 10_000,
      now: () => new Date(0),
    });
    const t = performance.now();
    expect(await d.linkSecurity()).toEqual([]);
    expect(performance.now() - t).toBeLessThan(1500);
  });

  it("base:1.0 buffering is linear when the peer sends one byte at a time", () => {
    const d = new FrameDecoder(64 << 20);
    const msg = Buffer.from(`${"x".repeat(400_000)}]]>]]>`);
    const t = performance.now();
    let got: string | undefined;
    for (let i = 0; i < msg.length; i++) {
      d.push(msg.subarray(i, i + 1));
      got = d.next() ?? got;
    }
    expect(got?.length).toBe(400_000);
    expect(performance.now() - t).toBeLessThan(1500);
  });

  it("an oversize base:1.0 message is refused, naming the limit, before it is buffered whole", () => {
    const d = new FrameDecoder(1000);
    d.push(Buffer.alloc(1001, 0x61));
    expect(() => d.next()).toThrowError(/exceeds the 1000-byte limit/);
  });
});

describe("fuzz: NETCONF framing (both framings) and XML", () => {
  const splits = (b: Buffer, cuts: number[]) => {
    const at = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
    const out: Buffer[] = [];
    let prev = 0;
    for (const c of [...at, b.length]) {
      out.push(b.subarray(prev, c));
      prev = c;
    }
    return out;
  };

  it("any byte stream, split anywhere, in either framing: messages within the limit, or a ProtocolError", () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      fc
        .array(fc.oneof(fc.constantFrom("\n#", "\n##\n", "]]>]]>", "\n#1\n", "\n#4294967296\n", "#", "\n", "0", "9"), nastyString(20)), {
          maxLength: 20,
        })
        .map((a) => Buffer.from(a.join(""))),
    );
    fuzz(
      "netconf-framing",
      fc.tuple(fc.constantFrom<Framing>("eom", "chunked"), bytes, fc.array(fc.nat(), { maxLength: 8 })),
      ([framing, b, cuts]) => {
        const d = new FrameDecoder(128);
        d.setFraming(framing);
        returnsOrTyped(() => {
          for (const part of splits(b, cuts)) {
            d.push(part);
            for (let m = d.next(); m !== undefined; m = d.next()) expect(Buffer.byteLength(m)).toBeLessThanOrEqual(128);
          }
        });
      },
    );
  });

  it("encode then decode, split anywhere, gives back the same messages", () => {
    fuzz(
      "netconf-framing-roundtrip",
      fc.tuple(
        fc.constantFrom<Framing>("eom", "chunked"),
        fc.array(
          fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }).filter((s) => !s.includes("]]>]]>")),
          { minLength: 1, maxLength: 5 },
        ),
        fc.array(fc.nat(), { maxLength: 10 }),
      ),
      ([framing, msgs, cuts]) => {
        const d = new FrameDecoder(1 << 20);
        d.setFraming(framing);
        const got: string[] = [];
        for (const part of splits(Buffer.concat(msgs.map((m) => encodeMessage(m, framing))), cuts)) {
          d.push(part);
          for (let m = d.next(); m !== undefined; m = d.next()) got.push(m);
        }
        expect(got).toEqual(msgs);
      },
    );
  });

  it("parseXml on any text settles with a document or a ProtocolError", async () => {
    const xmlish = fc
      .array(
        fc.oneof(
          fc.constantFrom(
            "<a>",
            "</a>",
            "<b/>",
            '<nc:rpc-reply message-id="1">',
            "</nc:rpc-reply>",
            "<!DOCTYPE x>",
            '<?xml version="1.0"?>',
            "&amp;",
            "&x;",
            "<![CDATA[",
            "]]>",
            "<__proto__>",
            "<constructor>",
            " ",
          ),
          nastyString(10),
        ),
        { maxLength: 15 },
      )
      .map((a) => a.join(""));
    await fuzzAsync("netconf-xml", xmlish, async (x) => {
      await settlesOrTyped(parseXml(x));
    });
  });

  it("a session fed any reply bytes: the RPC settles with a reply or a typed error, and never hangs", async () => {
    const reply = fc.oneof(
      fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a)),
      fc
        .array(
          fc.oneof(
            fc.constantFrom(
              '<rpc-reply message-id="101">',
              "</rpc-reply>",
              "<rpc-error><error-tag>x</error-tag></rpc-error>",
              "<ok/>",
              "<data>",
              "</data>",
              "\n#",
              "\n##\n",
            ),
            nastyString(10),
          ),
          { maxLength: 8 },
        )
        .map((a) => {
          const body = a.join("");
          return Buffer.byteLength(body) > 0 ? encodeMessage(body, "chunked") : Buffer.from("\n##\n");
        }),
    );
    await fuzzAsync(
      "netconf-session",
      fc.tuple(reply, nastyString(40)),
      async ([r, h]) => {
        const nc = await settlesOrTyped(
          NetconfSession.open(
            peer(hello(), () => r),
            { device: "sw9", rpcTimeoutMs: 300 },
          ),
        );
        if (nc instanceof NetconfSession) await settlesOrTyped(nc.get(), 2000);
        await settlesOrTyped(NetconfSession.open(peer(encodeMessage(h, "eom")), { device: "sw9", helloTimeoutMs: 300 }), 2000);
      },
      150,
    );
  });
});
