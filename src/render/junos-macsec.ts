import type { MacsecChange } from "../../drivers/contract.js";
import { macsecSuite } from "../crypto/macsec-suites.js";
import { escapeXml } from "../transport/netconf/xml.js";

/**
 * Pure: a MACsec change as Junos configuration XML, following the CLI hierarchy
 * `security macsec connectivity-association CA {cipher-suite, security-mode static-cak, pre-shared-key {ckn, cak},
 * mka {key-server-priority, sak-rekey-interval}, include-sci, replay-protect {replay-window-size}}` and
 * `security macsec interfaces IF connectivity-association CA`. The connectivity association is replaced as a whole.
 * Unconfirmed against a real Junos (see docs/drivers.md): the `<mka>` and `<replay-protect>` element names, and
 * whether edit-config wants the xnm namespace on `<configuration>` (a profile can set `netconf.junosNamespace: ""`).
 */
export const JUNOS_NAMESPACE = "http://xml.juniper.net/xnm/1.1/xnm";
const NC = "urn:ietf:params:xml:ns:netconf:base:1.0";

export function renderJunosMacsec(c: MacsecChange, namespace = JUNOS_NAMESPACE): string {
  const x = escapeXml;
  // Rotation: the new key becomes the pre-shared key and the old one stays as `fallback-key` (Junos 19.2R1+; XML
  // names follow the CLI hierarchy, unconfirmed). The association is replaced whole, so retiring is simply rendering
  // without the fallback.
  const primary = c.keychain.nextKey ?? { ckn: c.keychain.ckn, cak: c.keychain.cak };
  const fallback = c.keychain.nextKey ? { ckn: c.keychain.ckn, cak: c.keychain.cak } : undefined;
  const p = c.policy;
  const replay = Math.max(0, ...c.interfaces.map((i) => i.replayWindow));
  return [
    `<config xmlns="${NC}" xmlns:nc="${NC}"><configuration${namespace ? ` xmlns="${namespace}"` : ""}><security><macsec>`,
    `<connectivity-association nc:operation="replace"><name>${x(p.name)}</name>`,
    `<cipher-suite>${macsecSuite(p.suite).names.junos}</cipher-suite><security-mode>static-cak</security-mode>`,
    `<pre-shared-key><ckn>${x(primary.ckn)}</ckn><cak>${x(primary.cak)}</cak></pre-shared-key>`,
    fallback ? `<fallback-key><ckn>${x(fallback.ckn)}</ckn><cak>${x(fallback.cak)}</cak></fallback-key>` : "",
    `<mka><key-server-priority>${p.keyServerPriority}</key-server-priority>`,
    p.sakRekeySeconds > 0 ? `<sak-rekey-interval>${Math.min(86400, Math.max(60, p.sakRekeySeconds))}</sak-rekey-interval>` : "",
    `</mka>`,
    p.includeSci ? "<include-sci/>" : "",
    replay > 0 ? `<replay-protect><replay-window-size>${replay}</replay-window-size></replay-protect>` : "",
    `</connectivity-association>`,
    ...c.interfaces.map((i) => `<interfaces><name>${x(i.name)}</name><connectivity-association>${x(p.name)}</connectivity-association></interfaces>`),
    `</macsec></security></configuration></config>`,
  ].join("");
}

export function junosMacsecFilter(namespace = JUNOS_NAMESPACE): string {
  return `<configuration${namespace ? ` xmlns="${namespace}"` : ""}><security><macsec/></security></configuration>`;
}
