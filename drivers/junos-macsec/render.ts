import type { MacsecChange } from "../contract.js";
import { suiteName } from "./suite-names.js";
import { UnsupportedError } from "../../src/errors.js";
import { escapeXml } from "../../src/transport/netconf/xml.js";

/**
 * Pure: a MACsec change as Junos configuration XML, following the CLI hierarchy
 * `security macsec connectivity-association CA {cipher-suite, security-mode static-cak, pre-shared-key {ckn, cak},
 * mka {key-server-priority, sak-rekey-interval}, include-sci, replay-protect {replay-window-size}}` and
 * `security macsec interfaces IF connectivity-association CA`. The connectivity association is replaced as a whole.
 * Element names, nesting, types and ranges are checked against Juniper's published schema (Juniper/yang 24.4R1 `junos`
 * and 23.4R1 `junos-ex`, vendored in src/lab/models; test/unit/macsec-models.test.ts validates every golden payload).
 * Still unconfirmed: whether edit-config wants the xnm namespace on `<configuration>` (a profile can set
 * `netconf.junosNamespace: ""`).
 *
 * Platform family (Juniper publishes one schema per family): the `junos-ex` schema has no `cipher-suite` under
 * `connectivity-association` (23.4R1, also 19.4R1 and 21.4R1), so EX runs its default suite, GCM-AES-128. For EX the
 * leaf is left out and any other suite is refused before anything is sent.
 */
export type JunosFamily = "junos" | "junos-ex" | "junos-qfx" | "junos-es";

/** Pure: the schema family of a Junos platform from its product model (`ex4300-48p`, `qfx5120-48ym`, `srx345`, ...). */
export function junosFamily(productModel: string | undefined): JunosFamily {
  const m = (productModel ?? "").trim().toLowerCase();
  if (/^ex\d/.test(m)) return "junos-ex";
  if (/^qfx\d/.test(m)) return "junos-qfx";
  if (/^srx\d/.test(m)) return "junos-es";
  return "junos";
}

/** Pure: why this platform family cannot take this change, or undefined. */
export function junosRefusal(c: MacsecChange, family: JunosFamily): string | undefined {
  if (family === "junos-ex" && c.policy.suite !== "GCM-AES-128")
    return (
      `${c.policy.suite} cannot be set on a Junos EX platform: ` +
      "the published junos-ex schema has no cipher-suite under connectivity-association, " +
      "so EX runs its default GCM-AES-128; plan this link with GCM-AES-128"
    );
  return undefined;
}
export const JUNOS_NAMESPACE = "http://xml.juniper.net/xnm/1.1/xnm";
const NC = "urn:ietf:params:xml:ns:netconf:base:1.0";

export function renderJunosMacsec(c: MacsecChange, namespace = JUNOS_NAMESPACE, family: JunosFamily = "junos"): string {
  const refused = junosRefusal(c, family);
  if (refused) throw new UnsupportedError(refused);
  const x = escapeXml;
  // Rotation: the new key becomes the pre-shared key and the old one stays as `fallback-key` (Junos 19.2R1+; in the
  // published schema). The association is replaced whole, so retiring is simply rendering
  // without the fallback.
  const primary = c.keychain.nextKey ?? { ckn: c.keychain.ckn, cak: c.keychain.cak };
  const fallback = c.keychain.nextKey ? { ckn: c.keychain.ckn, cak: c.keychain.cak } : undefined;
  const p = c.policy;
  const replay = Math.max(0, ...c.interfaces.map((i) => i.replayWindow));
  return [
    `<config xmlns="${NC}" xmlns:nc="${NC}"><configuration${namespace ? ` xmlns="${namespace}"` : ""}><security><macsec>`,
    `<connectivity-association nc:operation="replace"><name>${x(p.name)}</name>`,
    family === "junos-ex" ? "" : `<cipher-suite>${suiteName(p.suite)}</cipher-suite>`,
    `<security-mode>static-cak</security-mode>`,
    `<pre-shared-key><ckn>${x(primary.ckn)}</ckn><cak>${x(primary.cak)}</cak></pre-shared-key>`,
    fallback ? `<fallback-key><ckn>${x(fallback.ckn)}</ckn><cak>${x(fallback.cak)}</cak></fallback-key>` : "",
    `<mka><key-server-priority>${p.keyServerPriority}</key-server-priority>`,
    p.sakRekeySeconds > 0 ? `<sak-rekey-interval>${Math.min(86400, Math.max(60, p.sakRekeySeconds))}</sak-rekey-interval>` : "",
    `</mka>`,
    p.includeSci ? "<include-sci/>" : "",
    replay > 0 ? `<replay-protect><replay-window-size>${replay}</replay-window-size></replay-protect>` : "",
    `</connectivity-association>`,
    ...c.interfaces.map(
      (i) => `<interfaces><name>${x(i.name)}</name><connectivity-association>${x(p.name)}</connectivity-association></interfaces>`,
    ),
    `</macsec></security></configuration></config>`,
  ].join("");
}

export function junosMacsecFilter(namespace = JUNOS_NAMESPACE): string {
  return `<configuration${namespace ? ` xmlns="${namespace}"` : ""}><security><macsec/></security></configuration>`;
}
