import { randomUUID } from "node:crypto";
import { TimeoutError, UnsupportedError } from "../../src/errors.js";
import { flattenXml } from "../../src/render/flatten-xml.js";
import { lineDiff } from "../../src/util/line-diff.js";
import { dataXml, NetconfRpcError, NetconfSession } from "../../src/transport/netconf/client.js";
import { parseXml } from "../../src/transport/netconf/xml.js";
import type { ConfigChange, Driver, LinkSecurityState } from "../contract.js";
import type { DriverContext } from "../contract.js";

/**
 * The NETCONF config transaction shared by the NETCONF MACsec drivers: candidate datastore, confirmed commit with a
 * persist token (another session can still confirm or cancel), lock on the candidate only (some servers cannot roll
 * back a confirmed commit while running is locked), and a diff of running vs candidate with secret leaves masked.
 */
export interface NetconfDialect {
  driver: string;
  /**
   * The edit-config payload for a change (holds secrets: it goes to the device only), in the dialect the session's
   * hello announces. Throws (UnsupportedError) when the device cannot take the change; nothing is sent then.
   */
  render(change: ConfigChange, session: NetconfSession): string | Promise<string>;
  /** Subtree filter selecting everything `render` touches, for the diff. */
  filter: string;
  secretLeaves: ReadonlySet<string>;
}

const CAP_CANDIDATE = "urn:ietf:params:netconf:capability:candidate:1.0";
const CAP_CONFIRMED = "urn:ietf:params:netconf:capability:confirmed-commit:1.1";

export type NetconfTransaction = Pick<Driver, "connect" | "loadCandidate" | "diff" | "commit" | "confirm" | "rollback" | "close"> & {
  cancelPending(token: string): Promise<boolean>;
  session(): Promise<NetconfSession>;
};

/** A lock is answered at once (granted or lock-denied); longer means the session is stuck. */
const LOCK_TIMEOUT_MS = 10_000;

export function netconfTransaction(ctx: DriverContext, d: NetconfDialect): NetconfTransaction {
  let nc: NetconfSession | undefined;
  let locked = false;
  let persistId: string | undefined;
  const session = async () =>
    (nc ??= await NetconfSession.open(await (await ctx.ssh()).subsystem("netconf"), {
      device: ctx.device,
      rpcTimeoutMs: ctx.commandTimeoutMs,
    }));
  const need = (s: NetconfSession, cap: string, what: string) => {
    if (!s.hasCapability(cap))
      throw new UnsupportedError(`${ctx.device}: the device does not advertise ${cap}, needed for ${what}`, {
        device: ctx.device,
        driver: d.driver,
        operation: what,
      });
  };
  const flat = async (s: NetconfSession, ds: "running" | "candidate") =>
    flattenXml((await parseXml(`<data>${dataXml(await s.getConfig(ds, d.filter))}</data>`)).data, d.secretLeaves);
  const unlock = async (s: NetconfSession) => {
    if (locked) await s.unlock("candidate").catch(() => undefined);
    locked = false;
  };
  return {
    session,
    async connect() {
      await session();
    },
    async close() {
      await nc?.close();
      nc = undefined;
      locked = false;
    },
    async loadCandidate(change) {
      let s = await session();
      const payload = await d.render(change, s);
      need(s, CAP_CANDIDATE, "loadCandidate");
      if (!locked) {
        try {
          await s.lock("candidate", Math.min(ctx.commandTimeoutMs, LOCK_TIMEOUT_MS));
        } catch (e) {
          if (!(e instanceof TimeoutError)) throw e;
          // netconfd has, rarely, never answered the first RPC of a fresh session (cause not found). The timeout
          // already dropped that session, and with it anything it held; lock once more on a new session.
          nc = undefined;
          s = await session();
          await s.lock("candidate");
        }
      }
      locked = true;
      try {
        await s.discardChanges();
        await s.editConfig("candidate", payload, { defaultOperation: "merge", errorOption: "rollback-on-error" });
      } catch (e) {
        await s.discardChanges().catch(() => undefined);
        await unlock(s);
        throw e;
      }
    },
    async diff() {
      const s = await session();
      return lineDiff(await flat(s, "running"), await flat(s, "candidate")).join("\n");
    },
    async commit({ confirmTimeoutS, token }) {
      const s = await session();
      need(s, CAP_CONFIRMED, "confirmed commit");
      persistId = token ?? `linkcrypt-${randomUUID()}`;
      await s.commit({ confirmed: true, confirmTimeout: confirmTimeoutS, persist: persistId });
    },
    async confirm() {
      const s = await session();
      if (!persistId)
        throw new UnsupportedError(`${ctx.device}: nothing to confirm`, { device: ctx.device, driver: d.driver, operation: "confirm" });
      await s.commit({ persistId });
      persistId = undefined;
      await unlock(s);
    },
    async cancelPending(token) {
      const s = await session();
      try {
        await s.cancelCommit(token);
        return true;
      } catch (e) {
        // rpc-error: no confirmed commit with that persist-id is pending any more.
        if (e instanceof NetconfRpcError) return false;
        throw e;
      }
    },
    async rollback() {
      const s = await session();
      try {
        if (persistId) {
          const id = persistId;
          persistId = undefined;
          // Fails if the confirm timeout already rolled the change back; the lock and candidate are cleaned anyway.
          await s.cancelCommit(id);
        }
      } finally {
        await s.discardChanges().catch(() => undefined);
        await unlock(s);
      }
    },
  };
}

/** What every NETCONF driver reports about the session it got. */
export function netconfFacts(s: NetconfSession): { capabilities: string[]; candidate: boolean; confirmedCommit: boolean } {
  return {
    capabilities: s.serverCapabilities,
    candidate: s.hasCapability(CAP_CANDIDATE),
    confirmedCommit: s.hasCapability(CAP_CONFIRMED) || s.hasCapability("urn:ietf:params:netconf:capability:confirmed-commit:1.0"),
  };
}

/** A profile that says MKA cannot be observed (`mkaObservable: false`) turns "unknown" into an explicit "secured: not verified". */
export function notVerified(ctx: Pick<DriverContext, "profile">, st: LinkSecurityState): LinkSecurityState {
  return st.status === "unknown" && ctx.profile.mkaObservable === false
    ? { ...st, detail: `secured: not verified (the profile sets mkaObservable: false): ${st.detail}` }
    : st;
}
