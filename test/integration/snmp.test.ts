import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthError, DeviceError, TimeoutError } from "../../src/errors.js";
import { SnmpSession, type SnmpOptions } from "../../src/transport/snmp.js";
import { freePort, startSnmpd, type SnmpPeer } from "../lab/peers.js";

const B = "1.3.6.1.4.1.8072.9999.9999.1";
let peer: SnmpPeer;
beforeAll(async () => {
  peer = await startSnmpd({ v2c: true }); // the v2c cases need the communities
});
afterAll(async () => peer?.stop());

const v3 = (o: Partial<SnmpOptions> = {}, user: Partial<NonNullable<SnmpOptions["user"]>> = {}) =>
  SnmpSession.open({
    device: "lab-l1",
    host: peer.host,
    port: peer.port,
    version: "3",
    timeoutMs: 1500,
    retries: 0,
    user: { name: peer.v3.user, authProtocol: "sha", authKey: peer.v3.authKey, privProtocol: "aes", privKey: peer.v3.privKey, ...user },
    ...o,
  });

describe("transport: snmp (real snmpd)", () => {
  it("v2c get and walk", async () => {
    const s = SnmpSession.open({ device: "lab-l1", host: peer.host, port: peer.port, version: "2c", community: "public" });
    const [c] = await s.get([`${B}.2.0`]);
    expect(c).toEqual({ oid: `${B}.2.0`, type: "OctetString", value: "AES-256-GCM" });
    const all = await s.walk(B);
    expect(all.map((v) => v.oid)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => `${B}.${n}.0`));
    expect(all.find((v) => v.oid === `${B}.8.0`)!.type).toBe("Counter64");
    s.close();
  });

  it("v3 authPriv (SHA/AES) set, read back", async () => {
    const s = v3();
    await s.set([{ oid: `${B}.4.0`, type: "Integer", value: 7200 }]);
    const [v] = await s.get([`${B}.4.0`]);
    expect(v!.value).toBe(7200);
    const [gen0] = await s.get([`${B}.7.0`]);
    await s.set([{ oid: `${B}.6.0`, type: "Integer", value: 1 }]);
    const [gen1, age] = await s.get([`${B}.7.0`, `${B}.3.0`]);
    expect(gen1!.value).toBe((gen0!.value as number) + 1);
    expect(age!.value).toBeLessThan(5);
    s.close();
  });

  it("v3 with SHA-256 works for the read-only user, whose writes are refused with noAccess", async () => {
    const s = v3({}, { name: peer.v3.roUser, authProtocol: "sha256", authKey: peer.v3.roAuthKey, privKey: peer.v3.roPrivKey });
    expect((await s.get([`${B}.2.0`]))[0]!.value).toBe("AES-256-GCM");
    const e = await s.set([{ oid: `${B}.4.0`, type: "Integer", value: 3600 }]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DeviceError);
    expect((e as DeviceError).tag).toBe("noAccess");
    s.close();
  });

  it("a wrong v3 password gives a clear auth error", async () => {
    const s = v3({}, { authKey: "not-the-password" });
    const e = await s.get([`${B}.2.0`]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AuthError);
    expect((e as AuthError).message).toMatch(/lab-l1: SNMPv3 authentication .* failed/);
    expect((e as AuthError).device).toBe("lab-l1");
    s.close();
  });

  it.each([
    ["wrongValue", `${B}.4.0`, "Integer", 5],
    ["wrongValue", `${B}.2.0`, "OctetString", "DES"],
    ["wrongType", `${B}.4.0`, "OctetString", "3600"],
    ["notWritable", `${B}.1.0`, "Integer", 1],
  ] as const)("set errors are typed: %s for %s", async (tag, oid, type, value) => {
    const s = v3();
    const e = await s.set([{ oid, type, value }]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DeviceError);
    expect((e as DeviceError).tag).toBe(tag);
    expect((e as DeviceError).errorPath).toBe(oid);
    s.close();
  });

  it("noSuchObject / noSuchInstance are errors, never values", async () => {
    const s = v3();
    const e = await s.get([`${B}.42.0`]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DeviceError);
    expect((e as DeviceError).tag).toMatch(/noSuch(Object|Instance)/);
    s.close();
  });

  it("a timeout names the device and what to check", async () => {
    const s = SnmpSession.open({
      device: "lab-l1",
      host: "127.0.0.1",
      port: await freePort(),
      version: "2c",
      community: "public",
      timeoutMs: 300,
      retries: 1,
    });
    const e = await s.get([`${B}.2.0`]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TimeoutError);
    expect((e as TimeoutError).message).toMatch(/lab-l1: SNMP get .* timed out after 300 ms x 2 tries/);
    s.close();
  });
});
