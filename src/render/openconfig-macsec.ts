import type { MacsecChange } from "../../drivers/contract.js";
import { macsecSuite } from "../crypto/macsec-suites.js";
import { escapeXml } from "../transport/netconf/xml.js";

/**
 * Pure: a MACsec change as an OpenConfig edit-config payload (openconfig-macsec + openconfig-keychain paths):
 *   /keychains/keychain[name]/keys/key[key-id]/config/{key-id, secret-key, crypto-algorithm}
 *   /macsec/mka/policies/policy[name]/config/{name, key-server-priority, macsec-cipher-suite, include-sci, sak-rekey-interval}
 *   /macsec/interfaces/interface[name]/config/{name, enable, replay-protection} and .../mka/config/{mka-policy, key-chain}
 * Policy and key entries are replaced (not merged), so a leaf-list such as the cipher suites never accumulates.
 * The output holds the CAK: it goes to the device and nowhere else.
 */
export interface OpenconfigNamespaces {
  macsec: string;
  keychain: string;
}

export const DEFAULT_OC_NAMESPACES: OpenconfigNamespaces = {
  macsec: "http://openconfig.net/yang/macsec",
  keychain: "http://openconfig.net/yang/oc-keychain",
};

const NC = "urn:ietf:params:xml:ns:netconf:base:1.0";

export function renderOpenconfigMacsec(c: MacsecChange, ns: OpenconfigNamespaces = DEFAULT_OC_NAMESPACES): string {
  const x = escapeXml;
  const p = c.policy;
  const k = c.keychain;
  return [
    `<config xmlns="${NC}" xmlns:nc="${NC}">`,
    `<keychains xmlns="${ns.keychain}"><keychain><name>${x(k.name)}</name><config><name>${x(k.name)}</name></config>`,
    `<keys>`,
    ...[{ ckn: k.ckn, cak: k.cak }, ...(k.nextKey ? [k.nextKey] : [])].map(
      (key) => `<key nc:operation="replace"><key-id>${x(key.ckn)}</key-id><config><key-id>${x(key.ckn)}</key-id><secret-key>${x(key.cak)}</secret-key><crypto-algorithm>${k.cryptoAlgorithm}</crypto-algorithm></config></key>`,
    ),
    ...(k.retireCkns ?? []).map((ckn) => `<key nc:operation="remove"><key-id>${x(ckn)}</key-id></key>`),
    `</keys></keychain></keychains>`,
    `<macsec xmlns="${ns.macsec}"><mka><policies><policy nc:operation="replace"><name>${x(p.name)}</name><config>`,
    `<name>${x(p.name)}</name><key-server-priority>${p.keyServerPriority}</key-server-priority>`,
    `<macsec-cipher-suite>${macsecSuite(p.suite).names.openconfig}</macsec-cipher-suite>`,
    `<include-sci>${p.includeSci}</include-sci><sak-rekey-interval>${p.sakRekeySeconds}</sak-rekey-interval>`,
    `</config></policy></policies></mka><interfaces>`,
    ...c.interfaces.map(
      (i) =>
        `<interface><name>${x(i.name)}</name><config><name>${x(i.name)}</name><enable>true</enable><replay-protection>${i.replayWindow}</replay-protection></config>` +
        `<mka><config><mka-policy>${x(p.name)}</mka-policy><key-chain>${x(k.name)}</key-chain></config></mka></interface>`,
    ),
    `</interfaces></macsec></config>`,
  ].join("");
}

/** The subtree filter that selects everything this renderer touches. */
export function openconfigMacsecFilter(ns: OpenconfigNamespaces = DEFAULT_OC_NAMESPACES): string {
  return `<keychains xmlns="${ns.keychain}"/><macsec xmlns="${ns.macsec}"/>`;
}
