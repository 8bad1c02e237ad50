import type { MacsecChange } from "../contract.js";
import { suiteName } from "./suite-names.js";

/**
 * Pure: a MACsec change as Arista EOS configuration lines (3-space indents):
 *   mac security / profile P / cipher, key <CKN> 0 <CAK> (plus `key <OLD> 0 <CAK> fallback` while rotating, and
 *   `no key <OLD>` to retire it), mka key-server priority, mka session rekey-period, sci,
 *   traffic unprotected drop|allow, replay protection window; then `interface X / mac security profile P`.
 * The session starts from the running configuration, so every setting the plan turns off is negated explicitly
 * (`no sci`, `no mka session rekey-period`, `no replay protection window`); otherwise the old line would stay.
 * Line shapes match public Arista usage (AVD templates, featureprofiles' Arista CLI), including the cleartext
 * `key <CKN> 0 <CAK> [fallback]` form; `no key <CKN>` has no public example.
 */
export function renderEosMacsec(c: MacsecChange): string[] {
  const p = c.policy;
  // Rotation: the new key is the primary and the old one stays as the fallback; retiring removes the old key.
  const k = c.keychain;
  const keys = k.nextKey
    ? [`      key ${k.nextKey.ckn} 0 ${k.nextKey.cak}`, `      key ${k.ckn} 0 ${k.cak} fallback`]
    : [`      key ${k.ckn} 0 ${k.cak}`];
  const replay = Math.max(0, ...c.interfaces.map((i) => i.replayWindow));
  return [
    "mac security",
    `   profile ${p.name}`,
    `      cipher ${suiteName(p.suite)}`,
    ...keys,
    ...(k.retireCkns ?? []).map((ckn) => `      no key ${ckn}`),
    `      mka key-server priority ${p.keyServerPriority}`,
    p.sakRekeySeconds > 0
      ? `      mka session rekey-period ${Math.min(100000, Math.max(30, p.sakRekeySeconds))}`
      : "      no mka session rekey-period",
    p.includeSci ? "      sci" : "      no sci",
    `      traffic unprotected ${p.mustSecure ? "drop" : "allow"}`,
    replay > 0 ? `      replay protection window ${replay}` : "      no replay protection window",
    ...c.interfaces.flatMap((i) => [`interface ${i.name}`, `   mac security profile ${p.name}`]),
  ];
}

/** Mask CAKs in EOS configuration text: `key <CKN> <type> <CAK>` -> `key <CKN> <type> <secret>`. */
export function maskEosKeys(text: string): string {
  return text.replace(/(\bkey\s+[0-9A-Fa-f]+\s+\d+\s+)\S+/g, "$1<secret>");
}
