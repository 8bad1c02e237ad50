import fc from "fast-check";
import { spawn } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create as createL1 } from "../../../drivers/l1-snmp/index.js";
import { LinkcryptError, ProtocolError } from "../../../src/errors.js";
import { SnmpSession, type Varbind } from "../../../src/transport/snmp.js";
import { fuzzAsync, settlesOrTyped, within } from "./fuzz.js";

// --- a fake SNMP agent on loopback that answers with whatever a test asks for -------------------------------
function tlv(b: Buffer, off: number): { tag: number; start: number; end: number } {
  const tag = b[off]!;
  let len = b[off + 1]!;
  let start = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[off + 2 + i]!;
    start += n;
  }
  return { tag, start, end: start + len };
}
function enc(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const len = n < 128 ? Buffer.from([n]) : n < 256 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, content]);
}
/** The request's id (raw TLV) and OIDs (raw TLVs). */
function readRequest(b: Buffer): { reqId: Buffer; oids: Buffer[] } {
  const msg = tlv(b, 0);
  const ver = tlv(b, msg.start);
  const com = tlv(b, ver.end);
  const pdu = tlv(b, com.end);
  const id = tlv(b, pdu.start);
  const st = tlv(b, id.end);
  const ix = tlv(b, st.end);
  const list = tlv(b, ix.end);
  const oids: Buffer[] = [];
  for (let o = list.start; o < list.end; ) {
    const vb = tlv(b, o);
    const oid = tlv(b, vb.start);
    oids.push(b.subarray(vb.start, oid.end));
    o = vb.end;
  }
  return { reqId: b.subarray(id.start - 2, id.end), oids };
}
/** A v3 request (or anything readRequest cannot follow) gives an empty request: raw answers need none. */
function readRequestOrEmpty(b: Buffer): { reqId: Buffer; oids: Buffer[] } {
  try {
    return readRequest(b);
  } catch {
    return { reqId: Buffer.from([2, 1, 0]), oids: [] };
  }
}
type Answer = (req: { reqId: Buffer; oids: Buffer[] }) => Buffer | Buffer[] | undefined;
const response = (reqId: Buffer, community: string, varbinds: Buffer[]) =>
  enc(
    0x30,
    Buffer.concat([
      Buffer.from([2, 1, 1]),
      enc(4, Buffer.from(community)),
      enc(0xa2, Buffer.concat([reqId, Buffer.from([2, 1, 0, 2, 1, 0]), enc(0x30, Buffer.concat(varbinds))])),
    ]),
  );
const vbOf = (oid: Buffer, value: Buffer) => enc(0x30, Buffer.concat([oid, value]));

let agent: Socket;
let port = 0;
let answer: Answer = () => undefined;
beforeAll(async () => {
  agent = createSocket("udp4");
  agent.on("message", (m, r) => {
    let out: Buffer | Buffer[] | undefined;
    try {
      out = answer(readRequestOrEmpty(m));
    } catch {
      return;
    }
    for (const b of Array.isArray(out) ? out : out ? [out] : []) agent.send(b, r.port, r.address);
  });
  await new Promise<void>((res) => agent.bind(0, "127.0.0.1", () => res()));
  port = agent.address().port;
});
afterAll(() => agent.close());

const COMMUNITY = "s3cr3t-community-value";
const session = () =>
  SnmpSession.open({ device: "enc1", host: "127.0.0.1", port, version: "2c", community: COMMUNITY, timeoutMs: 300, retries: 0 });

describe("fuzz findings: SNMP", () => {
  it("P-5: a varbind of type Null, Boolean, BitString or Opaque is a ProtocolError, not an uncaught exception", async () => {
    for (const value of [Buffer.from([5, 0]), Buffer.from([1, 1, 0xff]), Buffer.from([3, 2, 0, 0xff]), Buffer.from([0x44, 1, 0])]) {
      answer = ({ reqId, oids }) =>
        response(
          reqId,
          COMMUNITY,
          oids.map((o) => vbOf(o, value)),
        );
      const s = session();
      const e = await within(s.get(["1.3.6.1.2.1.1.1.0"]), 3000).catch((x: unknown) => x);
      s.close();
      expect(e).toBeInstanceOf(ProtocolError);
      expect((e as Error).message).toMatch(/^enc1: the agent answered 1\.3\.6\.1\.2\.1\.1\.1\.0 with an SNMP \w+ value/);
    }
  });

  it("P-6: a malformed datagram does not kill the process; the real answer after it is still read", async () => {
    answer = ({ reqId, oids }) => [
      Buffer.from([0x30, 0x03, 0x02, 0x01]),
      response(
        reqId,
        COMMUNITY,
        oids.map((o) => vbOf(o, enc(4, Buffer.from("ok")))),
      ),
    ];
    // In a child process: an "error" event with no listener is an uncaught exception that ends the process.
    const dir = mkdtempSync(join(tmpdir(), "lc-snmp-"));
    const script = join(dir, "p6.mts");
    writeFileSync(
      script,
      `import { SnmpSession } from ${JSON.stringify(resolve("src/transport/snmp.ts"))};
const s = SnmpSession.open({ device: "enc1", host: "127.0.0.1", port: ${port}, version: "2c", community: ${JSON.stringify(COMMUNITY)}, timeoutMs: 1000, retries: 0 });
const r = await s.get(["1.3.6.1.2.1.1.1.0"]);
s.close();
process.stdout.write(JSON.stringify(r));
`,
    );
    const r = await new Promise<{ code: number | null; out: string }>((done) => {
      const c = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      c.stdout.on("data", (d: Buffer) => (out += d.toString()));
      c.on("close", (code) => done({ code, out }));
    });
    rmSync(dir, { recursive: true, force: true });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual([{ oid: "1.3.6.1.2.1.1.1.0", type: "OctetString", value: "ok" }]);
  });

  it("S-2: an answer with another community never puts the community in the error, and does not say SNMPv3", async () => {
    answer = ({ reqId, oids }) =>
      response(
        reqId,
        "other",
        oids.map((o) => vbOf(o, enc(4, Buffer.from("x")))),
      );
    const s = session();
    const e = await within(s.get(["1.3.6.1.2.1.1.1.0"]), 3000).catch((x: unknown) => x);
    s.close();
    expect(e).toBeInstanceOf(LinkcryptError);
    const shown = `${(e as Error).message} ${JSON.stringify(e)} ${String((e as Error).cause ?? "")}`;
    expect(shown).not.toContain(COMMUNITY);
    expect(shown).not.toContain("SNMPv3");
    expect((e as Error).message).toMatch(/carried a different community/);
  });

  it('P-4: fewer varbinds than requested is a typed error in l1-snmp, and text where a number belongs is not "NaN"', async () => {
    const profile = {
      snmp: {
        base: "1.3.6.1.4.1.9",
        oids: { status: ".1", cipher: ".2", keyAgeSeconds: ".3", rotationInterval: ".4", keyGeneration: ".5", framesEncrypted: ".6" },
        values: { status: { secure: 1 } },
      },
    };
    const fake = (vbs: (oids: string[]) => Varbind[]) =>
      createL1({
        device: "enc1",
        profile,
        ssh: async () => {
          throw new Error("no ssh");
        },
        snmp: () => ({ get: async (oids: string[]) => vbs(oids), close() {} }) as never,
        commandTimeoutMs: 1000,
        now: () => new Date(0),
      });
    const short = fake((oids) => oids.slice(0, 1).map((oid) => ({ oid, type: "Integer", value: 1 })));
    await expect(short.linkSecurity()).rejects.toThrowError(/enc1: the agent answered 1 object\(s\) .* for 5 requested/);
    await expect(short.facts()).rejects.toBeInstanceOf(ProtocolError);
    const texty = fake((oids) => oids.map((oid) => ({ oid, type: "OctetString", value: "abc" })));
    const e = await texty.linkSecurity().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProtocolError);
    expect((e as Error).message).toMatch(/status should be a number, but the agent answered the text "abc"/);
  });
});

describe("fuzz: SNMP answers", () => {
  it("any answer datagram(s): get settles with values or a typed error, and the process lives", async () => {
    const value = fc.oneof(
      fc.tuple(fc.integer({ min: 0, max: 0xff }), fc.uint8Array({ maxLength: 12 })).map(([t, a]) => enc(t, Buffer.from(a))),
      fc.constantFrom(
        Buffer.from([5, 0]),
        Buffer.from([0x80, 0]),
        Buffer.from([0x81, 0]),
        Buffer.from([0x82, 0]),
        enc(4, Buffer.from("x")),
        Buffer.from([2, 1, 7]),
        Buffer.from([0x46, 2, 1, 0]),
      ),
    );
    const datagram = fc.oneof(
      fc.uint8Array({ maxLength: 60 }).map((a) => ({ raw: Buffer.from(a) })),
      fc.record({ community: fc.constantFrom(COMMUNITY, "other", ""), values: fc.array(value, { maxLength: 3 }) }),
    );
    await fuzzAsync(
      "snmp-answers",
      fc.array(datagram, { minLength: 1, maxLength: 3 }),
      async (ds) => {
        answer = ({ reqId, oids }) =>
          ds.map((d) =>
            "raw" in d
              ? d.raw
              : response(
                  reqId,
                  d.community,
                  d.values.map((v, i) => vbOf(oids[i % oids.length]!, v)),
                ),
          );
        const s = SnmpSession.open({
          device: "enc1",
          host: "127.0.0.1",
          port,
          version: "2c",
          community: COMMUNITY,
          timeoutMs: 50,
          retries: 0,
        });
        const r = await settlesOrTyped(s.get(["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.5.0"]), 3000);
        s.close();
        if (r instanceof LinkcryptError) expect(r.message).not.toContain(COMMUNITY);
      },
      200,
    );
  });

  it("an SNMPv3 session fed any datagrams: the process lives and get settles typed", async () => {
    const raw = fc.oneof(
      fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a)),
      fc
        .tuple(fc.uint8Array({ maxLength: 20 }), fc.uint8Array({ maxLength: 30 }))
        .map(([g, p]) =>
          enc(0x30, Buffer.concat([Buffer.from([2, 1, 3]), enc(0x30, Buffer.from(g)), enc(4, Buffer.from(p)), enc(0x30, Buffer.from(g))])),
        ),
    );
    await fuzzAsync(
      "snmp-v3-datagrams",
      fc.array(raw, { minLength: 1, maxLength: 3 }),
      async (ds) => {
        answer = () => ds;
        const s = SnmpSession.open({
          device: "enc1",
          host: "127.0.0.1",
          port,
          version: "3",
          user: { name: "u", authProtocol: "sha", authKey: "authkey-123456", privProtocol: "aes", privKey: "privkey-123456" },
          timeoutMs: 50,
          retries: 0,
        });
        const r = await settlesOrTyped(s.get(["1.3.6.1.2.1.1.1.0"]), 3000);
        s.close();
        if (r instanceof LinkcryptError) expect(r.message).not.toMatch(/authkey-123456|privkey-123456/);
      },
      150,
    );
  });
});
