import { UnsupportedError } from "../../src/errors.js";
import {
  DEFAULT_OC_NAMESPACES,
  describeOpenconfigDialect,
  openconfigDialect,
  openconfigMacsecFilter,
  renderOpenconfigMacsec,
  type OpenconfigNamespaces,
} from "./render.js";
import { dataXml } from "../../src/transport/netconf/client.js";
import { children, childText, parseXml, type XmlNode } from "../../src/transport/netconf/xml.js";
import type { ConfigChange, DeviceFacts, Driver, DriverFlags, LinkSecurityState } from "../contract.js";
import type { DriverContext } from "../contract.js";
import { netconfFacts, netconfTransaction, notVerified } from "../shared/netconf-transaction.js";
import type { DriverDescriptor } from "../contract.js";
import { optionsSchema } from "./options.js";
import { suiteNames } from "./suite-names.js";
import { openconfigMacsecLimits } from "./limits.js";

/**
 * `openconfig-macsec`: MACsec over NETCONF on the openconfig-macsec / openconfig-keychain paths.
 * Uses the candidate datastore and confirmed commit (with a persist token, so a later session can still
 * confirm or cancel). Locks only the candidate: some servers cannot roll back a confirmed commit while the
 * session holds a lock on running. What it sends follows the module revisions in the device's hello
 * (render.ts); a change the device's revision cannot express is refused before anything is sent.
 */
export const name = "openconfig-macsec";
export const flags: DriverFlags = { writable: true, candidate: true, confirmedCommit: true, rollback: true, verifiedWrites: false };

const SECRET_LEAVES = new Set(["secret-key", "key-clear-text"]);

/** MKA hello time (IEEE 802.1X-2010 MKA Hello Time, 2 s): a live peer's MKPDUs arrive at least this often. */
export const MKA_HELLO_MS = 2000;

/**
 * What one MACsec interface shows in a <get> reply, from leaves that exist in openconfig-macsec 1.2.0
 * (and `state/status`, which only the unreleased 1.3.0 draft, openconfig/public PR #1430, has).
 */
export interface OpenconfigEvidence {
  port: string;
  enabled: boolean;
  cipher: string | undefined;
  /** interfaces/interface/state/status (1.3.0 draft only). */
  status: string | undefined;
  /** Any operational state at all (a `state` container under the interface). */
  hasState: boolean;
  /** interfaces/interface/mka/state/counters. */
  inMkpdu: number | undefined;
  inSakMkpdu: number | undefined;
  outSakMkpdu: number | undefined;
  /** interfaces/interface/scsa-rx/scsa-rx[sci-rx] and scsa-tx/scsa-tx[sci-tx] with their SA counters (summed). */
  rxChannels: number;
  txChannels: number;
  saValid: number | undefined;
  saInvalid: number | undefined;
  saEncrypted: number | undefined;
  saAuthOnly: number | undefined;
  counters: Record<string, number>;
}

const num = (n: XmlNode | undefined, leaf: string): number | undefined => {
  const t = childText(n, leaf);
  return t === undefined || !/^\d+$/.test(t.trim()) ? undefined : Number(t);
};
const sum = (xs: (number | undefined)[]): number | undefined =>
  xs.some((x) => x !== undefined) ? xs.reduce<number>((a, x) => a + (x ?? 0), 0) : undefined;

/** Pure: the evidence per MACsec interface in a <get> reply of /macsec. */
export function readOpenconfigEvidence(data: XmlNode | undefined): OpenconfigEvidence[] {
  const macsec = children(data, "macsec")[0];
  const policies = new Map(
    children(children(children(macsec, "mka")[0], "policies")[0], "policy").map((p) => [
      childText(p, "name"),
      childText(children(p, "config")[0], "macsec-cipher-suite"),
    ]),
  );
  return children(children(macsec, "interfaces")[0], "interface").map((i) => {
    const cfg = children(i, "config")[0];
    const st = children(i, "state")[0];
    const mka = children(i, "mka")[0];
    const mkaCounters = children(children(mka, "state")[0], "counters")[0];
    const rx = children(children(i, "scsa-rx")[0], "scsa-rx").map((c) => children(children(c, "state")[0], "counters")[0]);
    const tx = children(children(i, "scsa-tx")[0], "scsa-tx").map((c) => children(children(c, "state")[0], "counters")[0]);
    const counters: Record<string, number> = {};
    for (const [k, v] of Object.entries(children(st, "counters")[0] ?? {}))
      if (Array.isArray(v)) counters[k] = Number((v[0] as XmlNode)._ ?? v[0]);
    for (const [k, v] of Object.entries(mkaCounters ?? {}))
      if (Array.isArray(v)) counters[`mka-${k}`] = Number((v[0] as XmlNode)._ ?? v[0]);
    const policy = childText(children(mka, "config")[0], "mka-policy");
    const e: OpenconfigEvidence = {
      port: childText(i, "name") ?? "?",
      enabled: (childText(st, "enable") ?? childText(cfg, "enable")) === "true",
      cipher: policies.get(policy),
      status: childText(st, "status"),
      hasState: st !== undefined || mkaCounters !== undefined || rx.length + tx.length > 0,
      inMkpdu: num(mkaCounters, "in-mkpdu"),
      inSakMkpdu: num(mkaCounters, "in-sak-mkpdu"),
      outSakMkpdu: num(mkaCounters, "out-sak-mkpdu"),
      rxChannels: rx.length,
      txChannels: tx.length,
      saValid: sum(rx.map((c) => num(c, "sa-valid"))),
      saInvalid: sum(rx.map((c) => num(c, "sa-invalid"))),
      saEncrypted: sum(tx.map((c) => num(c, "sa-encrypted"))),
      saAuthOnly: sum(tx.map((c) => num(c, "sa-auth-only"))),
      counters,
    };
    for (const [k, v] of [
      ["sa-valid", e.saValid],
      ["sa-invalid", e.saInvalid],
      ["sa-encrypted", e.saEncrypted],
      ["sa-auth-only", e.saAuthOnly],
    ] as const)
      if (v !== undefined) e.counters[k] = v;
    return e;
  });
}

/**
 * Pure: "secured" from openconfig-macsec 1.2.0 state. It takes all of:
 *   1. mka/state/counters/in-mkpdu grew between `before` and `now` (taken at least one MKA hello time apart):
 *      a validated MKPDU carries an ICV made with a key derived from the CAK, so a peer with the same CAK is live now
 *      (a count alone could be left over from an earlier session);
 *   2. in-sak-mkpdu or out-sak-mkpdu > 0: a SAK was distributed (received from, or sent as, the key server);
 *   3. an RX and a TX secure channel (scsa-rx, scsa-tx entries): the SAK is installed in the data plane both ways.
 * sa-valid / sa-invalid / sa-encrypted are reported as counters (they only grow with traffic, so an idle link cannot
 * show them growing). The 1.3.0 draft's state/status, where a device has it, is taken as the device's own verdict.
 * No state at all is "unknown" with the reason; apply then never confirms without the profile saying so.
 */
export function judgeOpenconfig(now: OpenconfigEvidence, before: OpenconfigEvidence | undefined, observedAt: string): LinkSecurityState {
  const base = {
    port: now.port,
    ...(now.cipher ? { cipher: now.cipher } : {}),
    ...(Object.keys(now.counters).length ? { counters: now.counters } : {}),
    observedAt,
  };
  if (now.status !== undefined) {
    const s =
      now.status === "ACTIVE" ? "secured" : now.status === "PENDING" ? "pending" : now.status === "INACTIVE" ? "unsecured" : "unknown";
    return { ...base, status: s, detail: `state/status ${now.status} (openconfig-macsec 1.3.0 draft leaf)` };
  }
  if (!now.enabled) return { ...base, status: "unsecured", detail: "MACsec not enabled on the interface" };
  if (!now.hasState || now.inMkpdu === undefined)
    return {
      ...base,
      status: "unknown",
      detail:
        "enabled, but the device reports no MKA state (openconfig-macsec 1.2.0 mka/state/counters, scsa-rx, scsa-tx): secured cannot be observed",
    };
  const grew = before?.inMkpdu !== undefined && now.inMkpdu > before.inMkpdu;
  const sak = (now.inSakMkpdu ?? 0) + (now.outSakMkpdu ?? 0) > 0;
  const channels = now.rxChannels > 0 && now.txChannels > 0;
  const facts =
    `in-mkpdu ${before?.inMkpdu ?? "?"}->${now.inMkpdu}, SAK MKPDUs in ${now.inSakMkpdu ?? 0}/out ${now.outSakMkpdu ?? 0}, ` +
    `secure channels rx ${now.rxChannels}/tx ${now.txChannels}, sa-valid ${now.saValid ?? "?"}, sa-encrypted ${now.saEncrypted ?? "?"}`;
  if (grew && sak && channels) return { ...base, status: "secured", detail: `MKA peer live and SAK installed (${facts})` };
  if (before && !grew) return { ...base, status: "unsecured", detail: `no MKPDU from a peer within ${MKA_HELLO_MS} ms (${facts})` };
  return { ...base, status: "pending", detail: `MKA not yet secured (${facts})` };
}

/** Pure: a single <get> reply judged without a second sample (kept for callers that have one reply). */
export function parseInterfaceStatus(data: XmlNode | undefined, now: string): LinkSecurityState[] {
  return readOpenconfigEvidence(data).map((e) => judgeOpenconfig(e, undefined, now));
}

export function create(ctx: DriverContext): Driver {
  const ns: OpenconfigNamespaces = {
    ...DEFAULT_OC_NAMESPACES,
    ...((ctx.profile.netconf as { namespaces?: Partial<OpenconfigNamespaces> } | undefined)?.namespaces ?? {}),
  };
  const tx = netconfTransaction(ctx, {
    driver: name,
    filter: openconfigMacsecFilter(ns),
    secretLeaves: SECRET_LEAVES,
    render: (change: ConfigChange, s) => {
      if (change.kind !== "macsec")
        throw new UnsupportedError(`${ctx.device}: ${name} handles MACsec changes, not ${change.kind}`, {
          device: ctx.device,
          driver: name,
          operation: "loadCandidate",
        });
      const dialect = openconfigDialect(s.serverCapabilities, ns);
      try {
        return renderOpenconfigMacsec(change, ns, dialect);
      } catch (e) {
        if (!(e instanceof UnsupportedError)) throw e;
        throw new UnsupportedError(`${ctx.device} (${describeOpenconfigDialect(dialect)}): ${e.message}; nothing was sent`, {
          device: ctx.device,
          driver: name,
          operation: "loadCandidate",
        });
      }
    },
  });
  const evidence = async () => {
    const s = await tx.session();
    return readOpenconfigEvidence((await parseXml(`<data>${dataXml(await s.get(`<macsec xmlns="${ns.macsec}"/>`))}</data>`)).data);
  };
  return {
    name,
    device: ctx.device,
    flags,
    ...tx,
    async facts(): Promise<DeviceFacts> {
      const s = await tx.session();
      const parsed = await parseXml(
        `<data>${dataXml(await s.getConfig("running", `<macsec xmlns="${ns.macsec}"><interfaces/></macsec>`))}</data>`,
      );
      const ifs = children(children(children(parsed.data, "macsec")[0], "interfaces")[0], "interface").map(
        (i) => childText(i, "name") ?? "?",
      );
      return {
        device: ctx.device,
        driver: name,
        reachable: true,
        observedAt: ctx.now().toISOString(),
        system: { description: describeOpenconfigDialect(openconfigDialect(s.serverCapabilities, ns)) },
        netconf: netconfFacts(s),
        macsecInterfaces: ifs,
      };
    },
    async linkSecurity() {
      // Two samples one MKA hello time apart, but only where the first could be secured (MKA state present).
      const first = await evidence();
      if (!first.some((e) => e.status === undefined && e.enabled && e.inMkpdu !== undefined))
        return first.map((e) => notVerified(ctx, judgeOpenconfig(e, undefined, ctx.now().toISOString())));
      await new Promise((r) => setTimeout(r, MKA_HELLO_MS + 500));
      const second = await evidence();
      const now = ctx.now().toISOString();
      return second.map((e) =>
        notVerified(
          ctx,
          judgeOpenconfig(
            e,
            first.find((f) => f.port === e.port),
            now,
          ),
        ),
      );
    },
  };
}

/** What the registry knows of this driver (drivers/contract.ts). */
export const descriptor: DriverDescriptor = {
  name,
  kind: "switch",
  create,
  optionsSchema,
  suiteNames,
  render: (c) => renderOpenconfigMacsec(c),
  macsecLimits: openconfigMacsecLimits,
};
