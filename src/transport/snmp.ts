import snmp from "net-snmp";
import { AuthError, DeviceError, ProtocolError, TimeoutError, type LinkcryptErrorOptions } from "../errors.js";

/**
 * SNMP v1/v2c/v3 (net-snmp) with typed values and typed errors. noSuchObject / noSuchInstance / endOfMibView are
 * never returned as values: `get` throws DeviceError("noSuchObject", ..., oid) for them.
 *
 * Example:
 *   const s = SnmpSession.open({ device: "lon1-enc1", host, port, version: "3", user: { name, authProtocol: "sha",
 *     authKey, privProtocol: "aes", privKey } });
 *   const [cipher] = await s.get(["1.3.6.1.4.1.8072.9999.9999.1.2.0"]);   // { oid, type: "OctetString", value: "AES-256-GCM" }
 *   await s.set([{ oid: "...4.0", type: "Integer", value: 3600 }]);
 */
export type SnmpType = "Integer" | "OctetString" | "Gauge" | "Counter" | "Counter64" | "TimeTicks" | "IpAddress" | "OID";

export interface Varbind {
  oid: string;
  type: SnmpType;
  value: number | bigint | string;
}

export interface SnmpUser {
  name: string;
  authProtocol: "sha" | "sha256" | "sha512" | "md5";
  authKey: string;
  privProtocol: "aes" | "aes256b" | "aes256r" | "des";
  privKey: string;
}

export interface SnmpOptions {
  device: string;
  host: string;
  port?: number;
  version: "1" | "2c" | "3";
  community?: string;
  user?: SnmpUser;
  timeoutMs?: number;
  retries?: number;
}

const TYPE_NAME: Record<number, SnmpType> = {
  [snmp.ObjectType.Integer]: "Integer",
  [snmp.ObjectType.OctetString]: "OctetString",
  [snmp.ObjectType.Gauge]: "Gauge",
  [snmp.ObjectType.Counter]: "Counter",
  [snmp.ObjectType.Counter64]: "Counter64",
  [snmp.ObjectType.TimeTicks]: "TimeTicks",
  [snmp.ObjectType.IpAddress]: "IpAddress",
  [snmp.ObjectType.OID]: "OID",
};
const TYPE_CODE: Record<SnmpType, number> = Object.fromEntries(Object.entries(TYPE_NAME).map(([k, v]) => [v, Number(k)])) as Record<
  SnmpType,
  number
>;

/** RFC 3416 error-status names, for typed errors. */
const STATUS: Record<number, string> = {
  1: "tooBig",
  2: "noSuchName",
  3: "badValue",
  4: "readOnly",
  5: "genErr",
  6: "noAccess",
  7: "wrongType",
  8: "wrongLength",
  9: "wrongEncoding",
  10: "wrongValue",
  11: "noCreation",
  12: "inconsistentValue",
  13: "resourceUnavailable",
  14: "commitFailed",
  15: "undoFailed",
  16: "authorizationError",
  17: "notWritable",
  18: "inconsistentName",
};

const TYPE_LABEL: Record<number, string> = { 1: "Boolean", 3: "BitString", 5: "Null", 68: "Opaque" };

function decode(vb: snmp.Varbind, device: string): Varbind {
  const type = Object.hasOwn(TYPE_NAME, vb.type ?? -1) ? TYPE_NAME[vb.type!] : undefined;
  if (!type)
    throw new ProtocolError(
      `${device}: the agent answered ${vb.oid} with an SNMP ${TYPE_LABEL[vb.type ?? -1] ?? `type ${vb.type}`} value, which linkcrypt does not read`,
      { device, operation: "decode" },
    );
  let value: number | bigint | string;
  if (type === "OctetString") value = Buffer.isBuffer(vb.value) ? vb.value.toString("utf8") : String(vb.value);
  else if (type === "Counter64")
    value = Buffer.isBuffer(vb.value) ? BigInt(`0x${(vb.value as Buffer).toString("hex") || "0"}`) : BigInt(vb.value as number);
  else if (type === "IpAddress" || type === "OID") value = String(vb.value);
  else value = Number(vb.value);
  return { oid: vb.oid, type, value };
}

export class SnmpSession {
  private constructor(
    private readonly session: snmp.Session,
    private readonly o: SnmpOptions,
  ) {
    // net-snmp emits "error" for a datagram it cannot decode; with no listener, any host that can reach our port
    // could kill the process. The request it may have been meant for times out, or gets its own answer.
    session.on("error", () => undefined);
  }

  static open(o: SnmpOptions): SnmpSession {
    const common = { port: o.port ?? 161, timeout: o.timeoutMs ?? 2000, retries: o.retries ?? 1 };
    if (o.version === "3") {
      if (!o.user) throw new AuthError(`${o.device}: SNMPv3 needs a user`, { device: o.device, operation: "open" });
      const u = o.user;
      const user = {
        name: u.name,
        level: snmp.SecurityLevel.authPriv,
        authProtocol: snmp.AuthProtocols[u.authProtocol],
        authKey: u.authKey,
        privProtocol: snmp.PrivProtocols[u.privProtocol],
        privKey: u.privKey,
      };
      return new SnmpSession(snmp.createV3Session(o.host, user, common), o);
    }
    return new SnmpSession(
      snmp.createSession(o.host, o.community ?? "public", { ...common, version: o.version === "1" ? snmp.Version1 : snmp.Version2c }),
      o,
    );
  }

  private ctx(operation: string, extra: Partial<LinkcryptErrorOptions> = {}): LinkcryptErrorOptions {
    return { device: this.o.device, operation, ...extra };
  }

  /** Library text with the community and keys taken out: net-snmp quotes the community in some of its errors. */
  private redact(text: string): string {
    let t = text;
    for (const secret of [this.o.community, this.o.user?.authKey, this.o.user?.privKey]) if (secret) t = t.split(secret).join("***");
    return t;
  }

  private mapError(e: Error & { status?: number; code?: number }, operation: string, oids: string[]): Error {
    const where = `${this.o.host}:${this.o.port ?? 161}`;
    const v3 = this.o.version === "3";
    if (e instanceof snmp.ResponseInvalidError && e.code === snmp.ResponseInvalidCode.ECommunityNoMatch)
      // Never the library's text (it quotes both communities), and no cause that would carry it.
      return new AuthError(
        `${this.o.device}: SNMP ${operation}: the answer from ${where} carried a different community than the request (a misconfigured agent, or a spoofed reply); communities are not shown`,
        this.ctx(operation),
      );
    if (e.name === "RequestTimedOutError" || /timed out/i.test(e.message))
      return new TimeoutError(
        `${this.o.device}: SNMP ${operation} to ${where} timed out after ${this.o.timeoutMs ?? 2000} ms x ${(this.o.retries ?? 1) + 1} tries (wrong community, wrong address, or the agent is down)`,
        this.ctx(operation, { cause: e }),
      );
    if (e instanceof snmp.RequestFailedError && e.status !== undefined) {
      const name = STATUS[e.status] ?? `error-status ${e.status}`;
      return new DeviceError(
        name,
        `${this.o.device}: SNMP ${operation} of ${oids.join(", ")} refused: ${name}`,
        oids[0],
        this.ctx(operation, { cause: e }),
      );
    }
    const authCodes: number[] = [snmp.ResponseInvalidCode.ECouldNotDecrypt, snmp.ResponseInvalidCode.EAuthFailure];
    if (
      v3 &&
      ((e instanceof snmp.ResponseInvalidError && e.code !== undefined && authCodes.includes(e.code)) ||
        /authentication|wrong digest|decrypt|usmStats/i.test(e.message))
    )
      return new AuthError(
        `${this.o.device}: SNMPv3 authentication with ${where} failed (${this.redact(e.message)}); check the user, auth and privacy keys and protocols`,
        this.ctx(operation),
      );
    return new ProtocolError(`${this.o.device}: SNMP ${operation} failed: ${this.redact(e.message)}`, this.ctx(operation));
  }

  get(oids: string[]): Promise<Varbind[]> {
    return new Promise((resolve, reject) => {
      this.session.get(oids, (err, vbs) => {
        if (err) return reject(this.mapError(err as Error, "get", oids));
        const out: Varbind[] = [];
        for (const vb of vbs ?? []) {
          if (snmp.isVarbindError(vb)) {
            const what =
              vb.type === snmp.ObjectType.NoSuchObject
                ? "noSuchObject"
                : vb.type === snmp.ObjectType.NoSuchInstance
                  ? "noSuchInstance"
                  : "endOfMibView";
            return reject(
              new DeviceError(what, `${this.o.device}: ${vb.oid} does not exist on the agent (${what})`, vb.oid, this.ctx("get")),
            );
          }
          try {
            out.push(decode(vb, this.o.device));
          } catch (e) {
            return reject(e);
          }
        }
        if (out.length !== oids.length)
          return reject(
            new ProtocolError(`${this.o.device}: SNMP get of ${oids.length} OID(s) answered with ${out.length} value(s)`, this.ctx("get")),
          );
        resolve(out);
      });
    });
  }

  set(varbinds: Varbind[]): Promise<Varbind[]> {
    const vbs = varbinds.map((v) => ({ oid: v.oid, type: TYPE_CODE[v.type], value: v.value as never }));
    return new Promise((resolve, reject) => {
      this.session.set(vbs, (err, res) => {
        if (err)
          return reject(
            this.mapError(
              err as Error,
              "set",
              varbinds.map((v) => v.oid),
            ),
          );
        try {
          resolve((res ?? []).filter((vb) => !snmp.isVarbindError(vb)).map((vb) => decode(vb, this.o.device)));
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  walk(oid: string): Promise<Varbind[]> {
    const out: Varbind[] = [];
    let bad: unknown;
    return new Promise((resolve, reject) => {
      this.session.subtree(
        oid,
        20,
        (vbs) => {
          try {
            for (const vb of vbs) if (!snmp.isVarbindError(vb)) out.push(decode(vb, this.o.device));
          } catch (e) {
            bad = e;
            return true; // stop the walk; net-snmp then calls the done callback
          }
          return false;
        },
        (err) => (bad !== undefined ? reject(bad) : err ? reject(this.mapError(err as Error, "walk", [oid])) : resolve(out)),
      );
    });
  }

  close(): void {
    try {
      this.session.close();
    } catch {
      /* already closed */
    }
  }
}
