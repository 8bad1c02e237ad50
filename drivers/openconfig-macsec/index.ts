import { UnsupportedError } from "../../src/errors.js";
import { DEFAULT_OC_NAMESPACES, openconfigMacsecFilter, renderOpenconfigMacsec, type OpenconfigNamespaces } from "../../src/render/openconfig-macsec.js";
import { dataXml } from "../../src/transport/netconf/client.js";
import { children, childText, parseXml, type XmlNode } from "../../src/transport/netconf/xml.js";
import type { ConfigChange, DeviceFacts, Driver, DriverFlags, LinkSecurityState } from "../contract.js";
import type { DriverContext } from "../registry.js";
import { netconfFacts, netconfTransaction } from "../shared/netconf-transaction.js";

/**
 * `openconfig-macsec`: MACsec over NETCONF on the openconfig-macsec / openconfig-keychain paths.
 * Uses the candidate datastore and confirmed commit (with a persist token, so a later session can still
 * confirm or cancel). Locks only the candidate: some servers cannot roll back a confirmed commit while the
 * session holds a lock on running.
 */
export const name = "openconfig-macsec";
export const flags: DriverFlags = { writable: true, candidate: true, confirmedCommit: true, rollback: true, verifiedWrites: false };

const SECRET_LEAVES = new Set(["secret-key", "key-clear-text"]);

/** Pure: MACsec interface status from a <get> reply: the v1.3.0 state/status leaf, else unknown. */
export function parseInterfaceStatus(data: XmlNode | undefined, now: string): LinkSecurityState[] {
  const macsec = children(data, "macsec")[0];
  const ifs = children(children(macsec, "interfaces")[0], "interface");
  const policies = new Map(
    children(children(children(macsec, "mka")[0], "policies")[0], "policy").map((p) => [childText(p, "name"), childText(children(p, "config")[0], "macsec-cipher-suite")]),
  );
  return ifs.map((i) => {
    const cfg = children(i, "config")[0];
    const st = children(i, "state")[0];
    const status = childText(st, "status") ?? childText(cfg, "lab-status");
    const enabled = childText(cfg, "enable") === "true";
    const policy = childText(children(children(i, "mka")[0], "config")[0], "mka-policy");
    const counters: Record<string, number> = {};
    for (const [k, v] of Object.entries(children(st, "counters")[0] ?? {})) if (Array.isArray(v)) counters[k] = Number((v[0] as XmlNode)._ ?? v[0]);
    const mapped = status === "ACTIVE" ? "secured" : status === "PENDING" ? "pending" : status === "INACTIVE" || !enabled ? "unsecured" : "unknown";
    const cipher = policies.get(policy);
    return {
      port: childText(i, "name") ?? "?",
      status: mapped,
      ...(cipher ? { cipher } : {}),
      ...(Object.keys(counters).length ? { counters } : {}),
      detail: status ? `MACsec status ${status}${enabled ? "" : " (not enabled)"}` : enabled ? "enabled, but the device reports no MACsec status leaf (openconfig-macsec before 1.3.0)" : "MACsec not enabled",
      observedAt: now,
    } satisfies LinkSecurityState;
  });
}

export function create(ctx: DriverContext): Driver {
  const ns: OpenconfigNamespaces = { ...DEFAULT_OC_NAMESPACES, ...((ctx.profile.netconf as { namespaces?: Partial<OpenconfigNamespaces> } | undefined)?.namespaces ?? {}) };
  const tx = netconfTransaction(ctx, {
    driver: name,
    filter: openconfigMacsecFilter(ns),
    secretLeaves: SECRET_LEAVES,
    render: (change: ConfigChange) => {
      if (change.kind !== "macsec") throw new UnsupportedError(`${ctx.device}: ${name} handles MACsec changes, not ${change.kind}`, { device: ctx.device, driver: name, operation: "loadCandidate" });
      return renderOpenconfigMacsec(change, ns);
    },
  });
  return {
    name,
    device: ctx.device,
    flags,
    ...tx,
    async facts(): Promise<DeviceFacts> {
      const s = await tx.session();
      const parsed = await parseXml(`<data>${dataXml(await s.getConfig("running", `<macsec xmlns="${ns.macsec}"><interfaces/></macsec>`))}</data>`);
      const ifs = children(children(children(parsed.data, "macsec")[0], "interfaces")[0], "interface").map((i) => childText(i, "name") ?? "?");
      return {
        device: ctx.device, driver: name, reachable: true, observedAt: ctx.now().toISOString(),
        netconf: netconfFacts(s),
        macsecInterfaces: ifs,
      };
    },
    async linkSecurity() {
      const s = await tx.session();
      const parsed = await parseXml(`<data>${dataXml(await s.get(`<macsec xmlns="${ns.macsec}"/>`))}</data>`);
      return parseInterfaceStatus(parsed.data, ctx.now().toISOString());
    },
  };
}
