import { UnsupportedError } from "../../src/errors.js";
import { JUNOS_NAMESPACE, junosFamily, junosMacsecFilter, renderJunosMacsec, type JunosFamily } from "./render.js";
import { dataXml, NetconfRpcError } from "../../src/transport/netconf/client.js";
import { children, childText, innerXml, parseXml } from "../../src/transport/netconf/xml.js";
import type { ConfigChange, DeviceFacts, Driver, DriverFlags, LinkSecurityState } from "../contract.js";
import type { DriverContext } from "../contract.js";
import { netconfFacts, netconfTransaction, notVerified } from "../shared/netconf-transaction.js";
import type { NetconfSession } from "../../src/transport/netconf/client.js";
import { parseShowSecurityMkaSessions } from "./parsers/show-security-mka-sessions.js";
import type { DriverDescriptor } from "../contract.js";
import { optionsSchema } from "./options.js";
import { suiteNames } from "./suite-names.js";
import { junosMacsecLimits } from "./limits.js";

/**
 * `junos-macsec`: MACsec on Junos over NETCONF: `security macsec connectivity-association` with a static CAK and
 * interface bindings, through the candidate and a confirmed commit. State comes from `show security mka sessions`
 * (sent as a NETCONF <command>), whose Secured / Unsecured per interface is the link-security status.
 * The payload follows the platform's schema family (Juniper publishes one per family): the product model from
 * `<get-software-information/>`, else the profile's `model`; a change the family cannot take is refused unsent.
 */
export const name = "junos-macsec";
export const flags: DriverFlags = { writable: true, candidate: true, confirmedCommit: true, rollback: true, verifiedWrites: false };

export function create(ctx: DriverContext): Driver {
  const ns = (ctx.profile.netconf as { junosNamespace?: string } | undefined)?.junosNamespace ?? JUNOS_NAMESPACE;
  let platform: { family: JunosFamily; from: string; productModel: string | undefined } | undefined;
  const family = async (s: NetconfSession) => {
    if (platform) return platform;
    let model: string | undefined;
    try {
      const r = await s.rpc("get-software-information", "<get-software-information/>");
      model = /<product-model>\s*([^<\s]+)\s*<\/product-model>/.exec(r.xml)?.[1];
    } catch (e) {
      if (!(e instanceof NetconfRpcError)) throw e;
    }
    const profileModel = typeof ctx.profile.model === "string" ? ctx.profile.model : undefined;
    platform = model
      ? { family: junosFamily(model), from: `product model ${model}`, productModel: model }
      : {
          family: junosFamily(profileModel),
          from: `profile model ${profileModel ?? "?"} (the device did not name its product model)`,
          productModel: undefined,
        };
    return platform;
  };
  const tx = netconfTransaction(ctx, {
    driver: name,
    filter: junosMacsecFilter(ns),
    secretLeaves: new Set(["cak"]),
    render: async (change: ConfigChange, s) => {
      if (change.kind !== "macsec")
        throw new UnsupportedError(`${ctx.device}: ${name} handles MACsec changes, not ${change.kind}`, {
          device: ctx.device,
          driver: name,
          operation: "loadCandidate",
        });
      const p = await family(s);
      try {
        return renderJunosMacsec(change, ns, p.family);
      } catch (e) {
        if (!(e instanceof UnsupportedError)) throw e;
        throw new UnsupportedError(`${ctx.device} (schema family ${p.family}, from the ${p.from}): ${e.message}; nothing was sent`, {
          device: ctx.device,
          driver: name,
          operation: "loadCandidate",
        });
      }
    },
  });
  const configured = async () => {
    const s = await tx.session();
    const d = (await parseXml(`<data>${dataXml(await s.getConfig("running", junosMacsecFilter(ns)))}</data>`)).data;
    const macsec = children(children(children(d, "configuration")[0], "security")[0], "macsec")[0];
    const cas = new Map(children(macsec, "connectivity-association").map((c) => [childText(c, "name"), childText(c, "cipher-suite")]));
    return children(macsec, "interfaces").map((i) => ({
      name: childText(i, "name") ?? "?",
      cipher: cas.get(childText(i, "connectivity-association")),
    }));
  };
  return {
    name,
    device: ctx.device,
    flags,
    ...tx,
    async facts(): Promise<DeviceFacts> {
      const s = await tx.session();
      const p = await family(s);
      return {
        device: ctx.device,
        driver: name,
        reachable: true,
        observedAt: ctx.now().toISOString(),
        ...(p.productModel ? { system: { description: p.productModel } } : {}),
        netconf: netconfFacts(s),
        macsecInterfaces: (await configured()).map((i) => i.name),
      };
    },
    async linkSecurity(): Promise<LinkSecurityState[]> {
      const s = await tx.session();
      const now = ctx.now().toISOString();
      const ifs = await configured();
      let text: string;
      try {
        const r = await s.rpc("show security mka sessions", '<command format="text">show security mka sessions</command>');
        text = innerXml(r.xml, "output", "first") ?? "";
      } catch (e) {
        if (!(e instanceof NetconfRpcError)) throw e;
        return ifs.map((i) =>
          notVerified(ctx, {
            port: i.name,
            status: "unknown",
            ...(i.cipher ? { cipher: i.cipher } : {}),
            detail: `the device did not answer "show security mka sessions" (${e.tag})`,
            observedAt: now,
          }),
        );
      }
      const sessions = parseShowSecurityMkaSessions(text);
      return ifs.map((i) => {
        const m = sessions.find((x) => x.interface === i.name);
        const status =
          m?.state === "Secured" ? "secured" : m?.state === "Unsecured" || m?.state === "Secured-Suspended" ? "unsecured" : "unknown";
        return notVerified(ctx, {
          port: i.name,
          status,
          ...(i.cipher ? { cipher: i.cipher } : {}),
          detail: m ? `MKA session ${m.state}${m.keyServer ? " (key server)" : ""}` : "no MKA session for this interface",
          observedAt: now,
        } satisfies LinkSecurityState);
      });
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
  render: (c) => renderJunosMacsec(c),
  macsecLimits: junosMacsecLimits,
};
