import { macsecSuite, type MacsecSuiteId } from "../crypto/macsec-suites.js";
import { parseIkeProposal } from "../crypto/ike.js";
import type { ProfileSet } from "../model/load-profiles.js";
import type { Plan } from "../planner/plan-types.js";
import { parseSpeed } from "../model/speed.js";
import type { VerifyReport } from "../verify/verify.js";

/**
 * Pure compliance evaluation: the plan (and, if given, what verify observed) against each standard, through that
 * standard's policy profile. Findings are data; the renderers only format them.
 */
export type FindingSeverity = "critical" | "high" | "medium" | "low";

/** Which control a finding counts against (see CONTROLS). */
export type ControlId = "coverage" | "algorithms" | "ike" | "key-lifetime" | "in-operation" | "mtu";

export interface Finding {
  severity: FindingSeverity;
  control: ControlId;
  standard: string;
  requirement: string;
  subject: string;
  message: string;
}

export const STANDARDS: { standard: string; policy: string; requirement: string }[] = [
  { standard: "PCI DSS 4.0", policy: "pci-dss-4", requirement: "4.2.1: strong cryptography for data over open, public networks" },
  { standard: "CNSA", policy: "cnsa-1", requirement: "RFC 9206: AES-256, P-384 or MODP-3072+, SHA-384" },
  { standard: "RFC 8221/8247", policy: "rfc8221", requirement: "MUST/SHOULD algorithms for ESP and IKEv2" },
  { standard: "BSI TR-02102-3", policy: "bsi-tr-02102-3", requirement: "IPsec/IKEv2 at the 120-bit security level" },
];

const RANK: Record<FindingSeverity, number> = { critical: 0, high: 1, medium: 2, low: 3 };

/** A key age known outside verify (MACsec CAKs: when apply or rotate stored them). */
export interface KnownKeyAge {
  subject: string;
  seconds: number;
}

export function evaluateCompliance(
  plan: Plan,
  profiles: ProfileSet,
  verify?: VerifyReport,
  keyAges: readonly KnownKeyAge[] = [],
): Finding[] {
  const out: Finding[] = [];
  for (const std of STANDARDS) {
    const p = profiles.policies.get(std.policy);
    if (!p) continue;
    const f = (severity: FindingSeverity, control: ControlId, subject: string, message: string) =>
      out.push({ severity, control, standard: std.standard, requirement: std.requirement, subject, message });
    for (const l of plan.links) {
      const subject = `link ${l.name}`;
      if ((l.method === "none" || l.method === "refused") && !p.unencryptedMedia.includes(l.medium as never))
        f(
          l.medium === "internet" || l.medium.startsWith("provider") ? "critical" : "high",
          "coverage",
          subject,
          `${l.medium} link is not encrypted (${l.method}); ${std.standard} does not accept an untrusted medium in clear`,
        );
      if (l.method === "macsec" && l.cipher) {
        if (!p.macsec.suites.includes(l.cipher as MacsecSuiteId))
          f("high", "algorithms", subject, `MACsec suite ${l.cipher} is not among ${std.standard}'s (${p.macsec.suites.join(", ")})`);
        if (!macsecSuite(l.cipher as MacsecSuiteId).xpn && parseSpeed(l.speed)! >= parseSpeed(p.macsec.xpnFrom)!)
          f(
            "high",
            "algorithms",
            subject,
            `non-XPN suite ${l.cipher} at ${l.speed}: the 32-bit packet number runs out in seconds at line rate`,
          );
      }
      if (l.method === "l1" && l.l1) {
        if (!p.l1.ciphers.includes(l.l1.cipher))
          f("high", "algorithms", subject, `L1 cipher ${l.l1.cipher} is not among ${std.standard}'s (${p.l1.ciphers.join(", ")})`);
        if (p.l1.certifications.length && !l.l1.certifications.some((c) => p.l1.certifications.some((r) => c.startsWith(r))))
          f("medium", "algorithms", subject, `the encryptors hold no ${p.l1.certifications.join("/")} certification`);
      }
    }
    for (const m of plan.meshes) {
      const subject = `mesh ${m.name}`;
      for (const c of m.pairClasses)
        if (c.method === "esp" && c.cipher && !p.esp.ciphers.includes(c.cipher as never))
          f(
            c.cipher.endsWith("sha1") ? "medium" : "high",
            "algorithms",
            `${subject} (${c.pairs} pairs, ${c.id})`,
            `ESP ${c.cipher} is not among ${std.standard}'s (${p.esp.ciphers.join(", ")})`,
          );
      for (const prop of m.ike.proposals) {
        const dh = parseIkeProposal(prop).dh.filter((g) => !p.ike.dhGroups.includes(g));
        if (dh.length)
          f("high", "ike", subject, `IKE proposal ${prop} offers DH group ${dh.join(", ")}, which ${std.standard} does not accept`);
      }
      if (p.pfs && !m.ike.pfs) f("medium", "ike", subject, "CHILD_SAs without perfect forward secrecy");
    }
    for (const e of verify?.entries ?? []) {
      if (e.keyAgeSeconds !== undefined && e.keyAgeSeconds > p.lifetimes.maxKeyAgeDays * 86400)
        f(
          "medium",
          "key-lifetime",
          `${e.kind} ${e.name}`,
          `key is ${Math.floor(e.keyAgeSeconds / 86400)} days old; ${std.standard} profile allows ${p.lifetimes.maxKeyAgeDays}`,
        );
    }
    for (const k of keyAges)
      if (k.seconds > p.lifetimes.maxKeyAgeDays * 86400)
        f(
          "medium",
          "key-lifetime",
          k.subject,
          `key is ${Math.floor(k.seconds / 86400)} days old; ${std.standard} profile allows ${p.lifetimes.maxKeyAgeDays}`,
        );
  }
  // Operational findings, the same under every standard.
  for (const d of plan.diagnostics)
    if (d.severity === "error" && d.code.startsWith("mtu."))
      out.push({ severity: "medium", control: "mtu", standard: "all", requirement: "MTU budget", subject: d.path, message: d.message });
  const planned = new Map(plan.links.map((l) => [l.name, l]));
  for (const e of verify?.entries ?? []) {
    if (e.kind === "pair" && (e.status === "degraded" || e.status === "unsecured"))
      out.push({
        severity: e.status === "unsecured" ? "critical" : "high",
        control: "in-operation",
        standard: "all",
        requirement: "mesh pair health",
        subject: `pair ${e.name}`,
        message: e.evidence.join("; "),
      });
    if (e.kind === "pair" && e.status === "unknown")
      out.push({
        severity: "medium",
        control: "in-operation",
        standard: "all",
        requirement: "encryption observed in operation",
        subject: `pair ${e.name}`,
        message: `not verified: ${e.evidence.join("; ")}`,
      });
    // A link the plan encrypts but verify could not show secured: its protection is not proven.
    const l = planned.get(e.name);
    if (e.kind === "link" && l && (l.method === "macsec" || l.method === "l1") && e.status !== "secured")
      out.push({
        severity: e.status === "unsecured" ? "critical" : e.status === "degraded" ? "high" : "medium",
        control: "in-operation",
        standard: "all",
        requirement: "encryption observed in operation",
        subject: `link ${e.name}`,
        message: `${l.method} link ${e.status === "unknown" ? "not verified secured" : e.status}: ${e.evidence.join("; ")}`,
      });
  }
  return out.sort(
    (a, b) =>
      RANK[a.severity] - RANK[b.severity] ||
      (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0) ||
      (a.standard < b.standard ? -1 : 1),
  );
}
