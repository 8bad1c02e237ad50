import { CommitError, ProtocolError, UnsupportedError } from "../../src/errors.js";
import type { SnmpSession, Varbind } from "../../src/transport/snmp.js";
import type { ConfigChange, DeviceFacts, Driver, DriverFlags, L1Change, LinkSecurityState } from "../contract.js";
import type { DriverContext } from "../contract.js";
import type { DriverDescriptor } from "../contract.js";
import { optionsSchema } from "./options.js";

/**
 * `l1-snmp`: a layer-1 encryptor described by its profile's SNMP OID map (`snmp.base` + `snmp.oids`), read and set
 * over SNMP (v3 authPriv in production). Changes are staged in the driver and diffed; commit sets one object per
 * request (agents may not apply multi-varbind sets atomically) and reads each back. There is no confirmed commit on
 * these devices: rollback writes the previous values back, also verified.
 */
export const name = "l1-snmp";
export const flags: DriverFlags = { writable: true, candidate: true, confirmedCommit: false, rollback: true, verifiedWrites: true };

interface SnmpMap {
  base: string;
  oids: Record<string, string>;
  values: Record<string, Record<string, number>>;
}

interface Pending {
  key: string;
  oid: string;
  type: Varbind["type"];
  from: number | string;
  to: number | string;
}

export function create(ctx: DriverContext): Driver {
  const map = (ctx.profile.snmp as SnmpMap | undefined) ?? { base: "", oids: {}, values: {} };
  const ciphers = (ctx.profile.ciphers as string[] | undefined) ?? [];
  const oid = (key: string) => {
    const rel = map.oids[key];
    if (!rel || !map.base)
      throw new UnsupportedError(`${ctx.device}: profile has no SNMP OID for "${key}"`, {
        device: ctx.device,
        driver: name,
        operation: key,
      });
    return `${map.base.replace(/^\./, "")}${rel}`;
  };
  const nameOf = (key: string, v: number) => Object.entries(map.values[key] ?? {}).find(([, n]) => n === v)?.[0] ?? String(v);
  let snmp: SnmpSession | undefined;
  let staged: Pending[] = [];
  let applied: Pending[] = [];
  let rotate = false;
  const s = () => (snmp ??= ctx.snmp());
  const got = async (oids: string[]) => {
    const vbs = await s().get(oids);
    // An agent may answer fewer (or other) objects than asked: never read a value from a missing varbind.
    if (vbs.length !== oids.length || vbs.some((vb, i) => vb.oid.replace(/^\./, "") !== oids[i]!.replace(/^\./, "")))
      throw new ProtocolError(
        `${ctx.device}: the agent answered ${vbs.length} object(s) (${vbs.map((v) => v.oid).join(", ") || "none"}) for ${oids.length} requested`,
        { device: ctx.device, driver: name, operation: "get" },
      );
    return vbs;
  };
  const read = async (keys: string[]) => {
    const vbs = await got(keys.map(oid));
    return Object.fromEntries(keys.map((k, i) => [k, vbs[i]!.value])) as Record<string, number | bigint | string>;
  };
  /** A numeric object read as a number; an OctetString where a number belongs is an error, not "NaN". */
  const int = (key: string, v: number | bigint | string | undefined): number => {
    if (typeof v === "bigint") return Number(v);
    if (typeof v === "number" && Number.isFinite(v)) return v;
    throw new ProtocolError(
      `${ctx.device}: ${key} should be a number, but the agent answered ${typeof v === "string" ? `the text ${JSON.stringify(v.slice(0, 40))}` : String(v)}`,
      { device: ctx.device, driver: name, operation: `get ${key}` },
    );
  };
  const text = (key: string, v: number | bigint | string | undefined): string => {
    if (typeof v === "string") return v;
    throw new ProtocolError(`${ctx.device}: ${key} should be text, but the agent answered the number ${String(v)}`, {
      device: ctx.device,
      driver: name,
      operation: `get ${key}`,
    });
  };
  const write = async (p: Pending, value: number | string) => {
    await s().set([{ oid: p.oid, type: p.type, value }]);
    const [back] = await s().get([p.oid]);
    if (back?.value !== value)
      throw new CommitError(`${ctx.device}: wrote ${p.key} = ${value} but read back ${String(back?.value)}`, {
        device: ctx.device,
        driver: name,
        operation: `set ${p.key}`,
      });
  };
  return {
    name,
    device: ctx.device,
    flags,
    async connect() {
      await s().get(["1.3.6.1.2.1.1.5.0"]);
    },
    async close() {
      snmp?.close();
      snmp = undefined;
    },
    async facts(): Promise<DeviceFacts> {
      const [descr, sysName] = await got(["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.5.0"]);
      const v = await read(["status", "cipher", "keyAgeSeconds", "rotationInterval", "keyGeneration"]);
      return {
        device: ctx.device,
        driver: name,
        reachable: true,
        observedAt: ctx.now().toISOString(),
        system: { description: String(descr!.value), name: String(sysName!.value) },
        l1: {
          status: nameOf("status", int("status", v.status)),
          cipher: text("cipher", v.cipher),
          keyAgeSeconds: int("keyAgeSeconds", v.keyAgeSeconds),
          rotationIntervalSeconds: int("rotationInterval", v.rotationInterval),
          keyGeneration: int("keyGeneration", v.keyGeneration),
        },
      };
    },
    async linkSecurity(): Promise<LinkSecurityState[]> {
      const v = await read(["status", "cipher", "keyAgeSeconds", "keyGeneration", "framesEncrypted"]);
      const status = nameOf("status", int("status", v.status));
      return [
        {
          port: "line",
          status: status === "secure" ? "secured" : status === "bypass" || status === "alarm" ? "unsecured" : "unknown",
          cipher: text("cipher", v.cipher),
          keyAgeSeconds: int("keyAgeSeconds", v.keyAgeSeconds),
          counters: {
            keyGeneration: int("keyGeneration", v.keyGeneration),
            framesEncrypted:
              typeof v.framesEncrypted === "bigint" ? String(v.framesEncrypted) : String(int("framesEncrypted", v.framesEncrypted)),
          },
          detail: `encryptor status ${status}`,
          observedAt: ctx.now().toISOString(),
        },
      ];
    },
    async loadCandidate(change: ConfigChange) {
      if (change.kind !== "l1")
        throw new UnsupportedError(`${ctx.device}: ${name} handles L1 changes, not ${change.kind}`, {
          device: ctx.device,
          driver: name,
          operation: "loadCandidate",
        });
      const c: L1Change = change;
      if (c.settings.cipher !== undefined && !ciphers.includes(c.settings.cipher))
        throw new UnsupportedError(`${ctx.device}: cipher ${c.settings.cipher} is not one this encryptor offers (${ciphers.join(", ")})`, {
          device: ctx.device,
          driver: name,
          operation: "loadCandidate",
        });
      const want: [string, Varbind["type"], number | string][] = [];
      if (c.settings.cipher !== undefined) want.push(["cipher", "OctetString", c.settings.cipher]);
      if (c.settings.rotationInterval !== undefined) want.push(["rotationInterval", "Integer", c.settings.rotationInterval]);
      if (c.settings.adminMode !== undefined) want.push(["adminMode", "Integer", map.values.adminMode?.[c.settings.adminMode] ?? NaN]);
      const cur = want.length ? await read(want.map(([k]) => k)) : {};
      staged = want
        .filter(([k, , to]) => cur[k] !== to)
        .map(([key, type, to]) => ({ key, oid: oid(key), type, from: cur[key] as number | string, to }));
      rotate = c.rotateNow === true;
      applied = [];
    },
    async diff() {
      return [...staged.map((p) => `${p.key}: ${p.from} -> ${p.to}`), ...(rotate ? ["rotate the key now"] : [])].join("\n");
    },
    async commit() {
      applied = [];
      try {
        for (const p of staged) {
          await write(p, p.to);
          applied.push(p);
        }
        if (rotate) {
          const before = int("keyGeneration", (await read(["keyGeneration"])).keyGeneration);
          await s().set([{ oid: oid("rotateNow"), type: "Integer", value: 1 }]);
          const after = int("keyGeneration", (await read(["keyGeneration"])).keyGeneration);
          if (after !== before + 1)
            throw new CommitError(`${ctx.device}: key rotation not confirmed (generation ${before} -> ${after})`, {
              device: ctx.device,
              driver: name,
              operation: "rotateNow",
            });
        }
      } catch (e) {
        for (const p of [...applied].reverse()) await write(p, p.from).catch(() => undefined);
        applied = [];
        throw e;
      }
      staged = [];
      rotate = false;
    },
    async confirm() {
      throw new UnsupportedError(`${ctx.device}: ${name} has no confirmed commit; commit() already verified each write`, {
        device: ctx.device,
        driver: name,
        operation: "confirm",
      });
    },
    async rollback() {
      for (const p of [...applied].reverse()) await write(p, p.from);
      applied = [];
      staged = [];
      rotate = false;
    },
  };
}

/** What the registry knows of this driver (drivers/contract.ts). */
export const descriptor: DriverDescriptor = {
  name,
  kind: "l1-encryptor",
  create,
  optionsSchema,
  suiteNames: {},
};
