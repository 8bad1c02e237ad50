import type { ProfileSet } from "../model/load-profiles.js";
import type { Plan } from "../planner/plan-types.js";
import type { VerifyReport } from "../verify/verify.js";
import { STANDARDS, type ControlId, type Finding } from "./compliance.js";

/**
 * Per framework, per control: pass, fail or not assessed, and why. A control is never silently passed: "pass" needs
 * something assessed and nothing failing; anything that could not be assessed says what is missing.
 */
export type ControlStatus = "pass" | "fail" | "not assessed";

export interface ControlResult {
  standard: string;
  control: Exclude<ControlId, "mtu">;
  /** The framework's clause or text this control stands for. */
  reference: string;
  title: string;
  status: ControlStatus;
  why: string;
  /** Findings that fail it (by index into the report's findings). */
  findings: number[];
}

const TITLES: Record<ControlResult["control"], string> = {
  coverage: "Every link over an untrusted medium is encrypted",
  algorithms: "Ciphers and suites are ones the framework accepts (MACsec, L1, ESP)",
  ike: "IKEv2 proposals, DH groups and perfect forward secrecy",
  "key-lifetime": "Every key is younger than the policy's maximum key age",
  "in-operation": "Encryption observed in operation, with fresh evidence",
};

const REFERENCES: Record<string, Record<ControlResult["control"], string>> = {
  "PCI DSS 4.0": {
    coverage: "4.2.1: PAN over open, public networks",
    algorithms: "4.2.1: secure configurations only; strength appropriate",
    ike: "4.2.1: no fallback to insecure versions or algorithms",
    "key-lifetime": "4.2.1 / 4.2.1.1: trusted, valid keys",
    "in-operation": "4.2.1 objective: cleartext cannot be read or intercepted",
  },
  CNSA: {
    coverage: "CNSA 1.0: all traffic on untrusted media",
    algorithms: "RFC 9206: AES-256, SHA-384",
    ike: "RFC 9206: ECDH P-384 or MODP-3072+, PRF SHA-384",
    "key-lifetime": "policy profile cnsa-1: key lifetime",
    "in-operation": "CNSA 1.0: protection in effect",
  },
  "RFC 8221/8247": {
    coverage: "policy profile rfc8221: media in clear",
    algorithms: "RFC 8221: ESP MUST/SHOULD algorithms",
    ike: "RFC 8247: IKEv2 transforms and DH groups",
    "key-lifetime": "policy profile rfc8221: key lifetime",
    "in-operation": "SAs established as negotiated",
  },
  "BSI TR-02102-3": {
    coverage: "TR-02102-3: IPsec protection of the link",
    algorithms: "TR-02102-3: 120-bit level, no HMAC-SHA-1",
    ike: "TR-02102-3: DH/RSA 3000+ bits, PFS",
    "key-lifetime": "TR-02102-3: key lifetimes",
    "in-operation": "protection in effect",
  },
};

export interface ControlContext {
  verify?: VerifyReport;
  /** Why the verify evidence cannot be relied on (too old, inventory changed), or null. */
  evidenceProblem: string | null;
  /** Per MACsec/L1 link: its key age in seconds, where known (verify or the state store). */
  keyAges: ReadonlyMap<string, number>;
}

const list = (xs: readonly string[], n = 4) => (xs.length <= n ? xs.join(", ") : `${xs.slice(0, n).join(", ")} and ${xs.length - n} more`);

export function evaluateControls(plan: Plan, profiles: ProfileSet, findings: readonly Finding[], ctx: ControlContext): ControlResult[] {
  const out: ControlResult[] = [];
  const encrypted = plan.links.filter((l) => l.method === "macsec" || l.method === "l1");
  const espClasses = plan.meshes.flatMap((m) => m.pairClasses.filter((c) => c.method === "esp").map((c) => ({ mesh: m, c })));
  for (const std of STANDARDS) {
    const p = profiles.policies.get(std.policy);
    const refs = REFERENCES[std.standard]!;
    for (const control of ["coverage", "algorithms", "ike", "key-lifetime", "in-operation"] as const) {
      const mine = findings
        .map((f, i) => [f, i] as const)
        .filter(([f]) => f.control === control && (f.standard === std.standard || f.standard === "all"));
      const r = (status: ControlStatus, why: string): ControlResult => ({
        standard: std.standard,
        control,
        reference: refs[control],
        title: TITLES[control],
        status,
        why,
        findings: mine.map(([, i]) => i),
      });
      if (!p) {
        out.push(r("not assessed", `the policy profile ${std.policy} is not loaded`));
        continue;
      }
      const failing = mine.filter(([f]) => f.severity === "critical" || f.severity === "high" || control !== "in-operation");
      if (control === "coverage") {
        if (failing.length)
          out.push(
            r(
              "fail",
              `${failing.length} link(s) over untrusted media are not encrypted: ${list([...new Set(failing.map(([f]) => f.subject))])}`,
            ),
          );
        else {
          const clear = plan.links.filter((l) => l.method === "none" || l.method === "refused");
          const byHostEsp = plan.links.length - clear.length - encrypted.length;
          const byHostEspPart = byHostEsp ? `, ${byHostEsp} by host ESP for mesh members' traffic only` : "";
          const clearPart = clear.length
            ? `; ${clear.length} in clear on media ${std.policy} trusts (${list(clear.map((l) => `${l.name}: ${l.medium}`))}), listed as exceptions`
            : "";
          out.push(
            plan.links.length
              ? r(
                  "pass",
                  `${plan.links.length - clear.length}/${plan.links.length} links planned encrypted ` +
                    `(${encrypted.length} by MACsec or L1 for all traffic${byHostEspPart})${clearPart}`,
                )
              : r("not assessed", "the inventory has no links"),
          );
        }
      } else if (control === "algorithms") {
        if (failing.length)
          out.push(
            r(
              "fail",
              list(
                failing.map(([f]) => `${f.subject}: ${f.message}`),
                3,
              ),
            ),
          );
        else if (!encrypted.length && !espClasses.length)
          out.push(r("not assessed", "nothing in the plan is encrypted, so no cipher to assess"));
        else {
          const ciphers = [
            ...new Set([...encrypted.map((l) => l.l1?.cipher ?? l.cipher ?? "?"), ...espClasses.map((x) => `ESP ${x.c.cipher}`)]),
          ];
          out.push(
            r(
              "pass",
              `${encrypted.length} link(s) and ${espClasses.length} ESP pair class(es) use only accepted ciphers: ${list(ciphers, 6)}`,
            ),
          );
        }
      } else if (control === "ike") {
        if (!plan.meshes.length) out.push(r("not assessed", "not applicable: no host mesh, so no IKEv2"));
        else if (failing.length)
          out.push(
            r(
              "fail",
              list(
                failing.map(([f]) => `${f.subject}: ${f.message}`),
                3,
              ),
            ),
          );
        else
          out.push(
            r(
              "pass",
              plan.meshes.map((m) => `${m.name}: ${m.ike.proposals.join(", ")}; PFS ${m.ike.pfs ? m.ike.pfsGroup : "off"}`).join("; "),
            ),
          );
      } else if (control === "key-lifetime") {
        const unknown = encrypted.filter((l) => !ctx.keyAges.has(l.name)).map((l) => l.name);
        if (failing.length)
          out.push(
            r(
              "fail",
              list(
                failing.map(([f]) => `${f.subject}: ${f.message}`),
                3,
              ),
            ),
          );
        else if (!encrypted.length && !plan.meshes.length) out.push(r("not assessed", "no keys: nothing in the plan is encrypted"));
        else if (unknown.length)
          out.push(
            r("not assessed", `key age not known for ${list(unknown)} (L1: from verify; MACsec: from the state store, --state-dir)`),
          );
        else {
          const oldest = Math.max(0, ...ctx.keyAges.values());
          const oldestPart = encrypted.length ? `oldest link key ${(oldest / 86400).toFixed(1)} days` : "no link keys";
          const espRekeyPart = plan.meshes.length
            ? `; ESP keys rekeyed every ${Math.min(...plan.meshes.map((m) => m.ike.childLifetimeSeconds))} s or sooner`
            : "";
          out.push(r("pass", `${oldestPart}; limit ${p.lifetimes.maxKeyAgeDays} days${espRekeyPart}`));
        }
      } else {
        const v = ctx.verify;
        const bad = mine.filter(([f]) => f.severity === "critical" || f.severity === "high");
        const esp = plan.meshes.reduce((n, m) => n + m.pairClasses.filter((c) => c.method === "esp").reduce((k, c) => k + c.pairs, 0), 0);
        if (!v) out.push(r("not assessed", "no verify evidence was given (report --verify FILE)"));
        else if (bad.length)
          out.push(r("fail", `${bad.length} link(s) or pair(s) observed unsecured or degraded: ${list(bad.map(([f]) => f.subject))}`));
        else if (ctx.evidenceProblem) out.push(r("not assessed", ctx.evidenceProblem));
        else if (mine.length) out.push(r("not assessed", `not observed secured: ${list(mine.map(([f]) => f.subject))}`));
        else {
          const links = v.entries.filter((e) => e.kind === "link" && e.status === "secured").length;
          const pairs = v.entries.filter((e) => e.kind === "pair" && e.status === "secured").length;
          if (!encrypted.length && !esp) out.push(r("not assessed", "nothing in the plan is encrypted"));
          else if (pairs < esp) out.push(r("not assessed", `${pairs}/${esp} ESP pairs in the verify evidence`));
          else
            out.push(
              r(
                "pass",
                `${links}/${encrypted.length} encrypted link(s) and ${pairs}/${esp} ESP pair(s) observed secured, collected ${v.observedAt}`,
              ),
            );
        }
      }
    }
  }
  return out;
}
