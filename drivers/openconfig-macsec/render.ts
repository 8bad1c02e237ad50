import type { MacsecChange } from "../contract.js";
import { suiteName } from "./suite-names.js";
import { UnsupportedError } from "../../src/errors.js";
import { escapeXml } from "../../src/transport/netconf/xml.js";

/**
 * Pure: a MACsec change as an OpenConfig edit-config payload (openconfig-macsec + openconfig-keychain paths):
 *   /keychains/keychain[name]/keys/key[key-id]/config/{key-id, secret-key, crypto-algorithm}
 *   /macsec/mka/policies/policy[name]/config/{name, key-server-priority, macsec-cipher-suite, include-sci, sak-rekey-interval}
 *   /macsec/interfaces/interface[name]/config/{name, enable, replay-protection} and .../mka/config/{mka-policy, key-chain}
 * Policy and key entries are replaced (not merged), so a leaf-list such as the cipher suites never accumulates.
 * The output holds the CAK: it goes to the device and nowhere else.
 *
 * What is sent depends on the module revisions the device announces (see `openconfigDialect`), checked against the
 * published models vendored in src/lab/models (test/unit/macsec-models.test.ts validates every golden payload):
 *   - key-id: openconfig-keychain 0.5.0 (2024-05-30) takes `0x`-prefixed hex (3..66 chars) or a uint64, so the CKN
 *     goes as `0x<ckn>`; 0.4.0 (2022-11-05) takes bare hex or a uint64, so the CKN goes as it is; 0.3.0 and older
 *     take a uint64 only, which a CKN of more than 8 bytes cannot be: refused.
 *   - crypto-algorithm is an identityref to openconfig-keychain-types, so the value carries that module's prefix.
 *   - include-sci exists from openconfig-macsec 1.2.0 (2025-01-02). Before that it is not sent, and a plan that wants
 *     the SCI is refused (the device would decide on its own).
 */
export interface OpenconfigNamespaces {
  macsec: string;
  keychain: string;
}

export const DEFAULT_OC_NAMESPACES: OpenconfigNamespaces = {
  macsec: "http://openconfig.net/yang/macsec",
  keychain: "http://openconfig.net/yang/oc-keychain",
};

export const OC_KEYCHAIN_TYPES_NS = "http://openconfig.net/yang/oc-keychain-types";

/** Published revisions (revision date -> openconfig-version), from the models' own `revision ... reference` lines. */
export const OC_MACSEC_VERSIONS: Readonly<Record<string, string>> = {
  "2025-01-02": "1.2.0",
  "2023-08-03": "1.1.1",
  "2023-06-08": "1.1.0",
  "2022-04-28": "1.0.0",
  "2020-05-01": "0.2.0",
  "2019-07-01": "0.1.0",
};
export const OC_KEYCHAIN_VERSIONS: Readonly<Record<string, string>> = {
  "2024-05-30": "0.5.0",
  "2022-11-05": "0.4.0",
  "2022-03-05": "0.3.0",
  "2021-12-31": "0.2.0",
  "2021-10-01": "0.1.0",
};

/** First revisions with a feature. */
const MACSEC_INCLUDE_SCI = "2025-01-02";
const KEYCHAIN_PREFIXED_HEX = "2024-05-30";
const KEYCHAIN_HEX = "2022-11-05";

/** What the device speaks. A revision is a YANG revision date; undefined = the device did not say. */
export interface OpenconfigDialect {
  macsecRevision: string | undefined;
  keychainRevision: string | undefined;
}

/** The newest releases, vendored in src/lab/models/openconfig: used when a device does not announce its modules. */
export const LATEST_OC_DIALECT: OpenconfigDialect = { macsecRevision: "2025-01-02", keychainRevision: "2024-05-30" };

/**
 * Pure: the dialect from NETCONF hello capabilities (`<namespace>?module=<name>&revision=<date>`, RFC 6020 5.6.4).
 * A module that is not announced (YANG 1.1 servers list modules in the YANG library instead) counts as the newest
 * release; `announced` says which ones the device named.
 */
export function openconfigDialect(
  capabilities: readonly string[],
  ns: OpenconfigNamespaces = DEFAULT_OC_NAMESPACES,
): OpenconfigDialect & { announced: { macsec: boolean; keychain: boolean } } {
  const rev = (module: string, namespace: string) => {
    for (const c of capabilities) {
      const [base, query = ""] = c.split("?");
      const q = new URLSearchParams(query.replace(/&amp;/g, "&"));
      if (base === namespace || q.get("module") === module) return q.get("revision") ?? undefined;
    }
    return undefined;
  };
  const m = rev("openconfig-macsec", ns.macsec);
  const k = rev("openconfig-keychain", ns.keychain);
  return {
    macsecRevision: m ?? LATEST_OC_DIALECT.macsecRevision,
    keychainRevision: k ?? LATEST_OC_DIALECT.keychainRevision,
    announced: { macsec: m !== undefined, keychain: k !== undefined },
  };
}

export function describeOpenconfigDialect(d: OpenconfigDialect): string {
  const v = (r: string | undefined, t: Readonly<Record<string, string>>) => (r ? `${t[r] ?? "unknown version"} (${r})` : "not announced");
  return `openconfig-macsec ${v(d.macsecRevision, OC_MACSEC_VERSIONS)}, openconfig-keychain ${v(d.keychainRevision, OC_KEYCHAIN_VERSIONS)}`;
}

/** Pure: whether this openconfig-macsec revision has the include-sci leaf (1.2.0 and newer). */
export function openconfigHasIncludeSci(macsecRevision: string | undefined): boolean {
  return (macsecRevision ?? LATEST_OC_DIALECT.macsecRevision!) >= MACSEC_INCLUDE_SCI;
}

/** Pure: the key-id a keychain revision takes for a CKN (hex), or why it cannot take it. */
export function openconfigKeyId(ckn: string, keychainRevision: string | undefined): string {
  const r = keychainRevision ?? LATEST_OC_DIALECT.keychainRevision!;
  if (r >= KEYCHAIN_PREFIXED_HEX) return `0x${ckn}`;
  if (r >= KEYCHAIN_HEX) return ckn;
  // 0.1.0-0.3.0: uint64 only. A CKN that fits is sent as its decimal value; a longer one cannot be expressed.
  if (ckn.length <= 16) return BigInt(`0x${ckn}`).toString(10);
  throw new UnsupportedError(
    `openconfig-keychain ${OC_KEYCHAIN_VERSIONS[r] ?? r} takes a key-id of type uint64 only; a ${ckn.length / 2}-byte CKN does not fit (keychain 0.4.0 or newer takes hex)`,
  );
}

/** Pure: why this device cannot take this change, or undefined. Nothing is sent when there is a reason. */
export function openconfigRefusal(c: MacsecChange, d: OpenconfigDialect): string | undefined {
  const m = d.macsecRevision ?? LATEST_OC_DIALECT.macsecRevision!;
  if (c.policy.includeSci && !openconfigHasIncludeSci(m))
    return (
      `the plan includes the SCI, but openconfig-macsec ${OC_MACSEC_VERSIONS[m] ?? m} has no include-sci leaf (added in 1.2.0): ` +
      "the device would decide by itself; plan this link without the SCI or upgrade the device"
    );
  try {
    for (const key of [c.keychain, ...(c.keychain.nextKey ? [c.keychain.nextKey] : [])]) openconfigKeyId(key.ckn, d.keychainRevision);
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

const NC = "urn:ietf:params:xml:ns:netconf:base:1.0";

export function renderOpenconfigMacsec(
  c: MacsecChange,
  ns: OpenconfigNamespaces = DEFAULT_OC_NAMESPACES,
  dialect: OpenconfigDialect = LATEST_OC_DIALECT,
): string {
  const refused = openconfigRefusal(c, dialect);
  if (refused) throw new UnsupportedError(refused);
  const x = escapeXml;
  const p = c.policy;
  const k = c.keychain;
  const id = (ckn: string) => x(openconfigKeyId(ckn, dialect.keychainRevision));
  const sci = openconfigHasIncludeSci(dialect.macsecRevision) ? `<include-sci>${p.includeSci}</include-sci>` : "";
  // openconfig-macsec: sak-rekey-interval is `0 | 30..65535`.
  const rekey = p.sakRekeySeconds === 0 ? 0 : Math.min(65535, Math.max(30, p.sakRekeySeconds));
  return [
    `<config xmlns="${NC}" xmlns:nc="${NC}">`,
    `<keychains xmlns="${ns.keychain}"><keychain><name>${x(k.name)}</name><config><name>${x(k.name)}</name></config>`,
    `<keys>`,
    ...[{ ckn: k.ckn, cak: k.cak }, ...(k.nextKey ? [k.nextKey] : [])].map(
      (key) =>
        `<key nc:operation="replace"><key-id>${id(key.ckn)}</key-id>` +
        `<config><key-id>${id(key.ckn)}</key-id><secret-key>${x(key.cak)}</secret-key>` +
        `<crypto-algorithm xmlns:oc-kc-types="${OC_KEYCHAIN_TYPES_NS}">oc-kc-types:${k.cryptoAlgorithm}</crypto-algorithm></config></key>`,
    ),
    ...(k.retireCkns ?? []).map((ckn) => `<key nc:operation="remove"><key-id>${id(ckn)}</key-id></key>`),
    `</keys></keychain></keychains>`,
    `<macsec xmlns="${ns.macsec}"><mka><policies><policy nc:operation="replace"><name>${x(p.name)}</name><config>`,
    `<name>${x(p.name)}</name><key-server-priority>${p.keyServerPriority}</key-server-priority>`,
    `<macsec-cipher-suite>${suiteName(p.suite)}</macsec-cipher-suite>`,
    `${sci}<sak-rekey-interval>${rekey}</sak-rekey-interval>`,
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
