import type { JournalEntry } from "../apply/state-store.js";
import type { ProfileSet } from "../model/load-profiles.js";
import type { Plan, SidePlan } from "../planner/plan-types.js";
import type { VerifyReport, VerifyStatus } from "../verify/verify.js";
import { evaluateCompliance, STANDARDS, type Finding } from "./compliance.js";
import { evaluateControls, type ControlResult } from "./controls.js";
import type { EndEvidence } from "./evidence.js";
import {
  collectExceptions,
  lastApplied,
  planDigest,
  type ExceptionRecord,
  type Provenance,
  type ReportException,
  type VerifyProvenance,
} from "./provenance.js";

/**
 * The report as data: what every renderer (JSON, Markdown, HTML, PDF) formats. Pure; the clock, the tool identity,
 * the verify file and the state store's journal and key dates are inputs.
 */
export type ReportStatus = VerifyStatus | "not verified";

export interface ReportLink {
  name: string;
  sites: [string, string];
  a: string;
  b: string;
  medium: string;
  speed: string;
  method: string;
  cipher: string | null;
  keyManagement: string | null;
  encryptors: [string, string] | null;
  keyAge: { seconds: number | null; source: string; text: string };
  certifiedHardware: string;
  /** Where the encryption runs: switch MACsec hardware, the encryptor, or nothing. */
  hardware: string;
  mtu: { overheadBytes: number; maxInnerMtu: number };
  status: ReportStatus;
  /** When verify observed this link; null without verify evidence. */
  observedAt: string | null;
  /** What proves the status, one line per device end (printed, not a tooltip). */
  proof: string[];
  /** Evidence an auditor would expect that the devices did not give. */
  missing: string[];
  ends: EndEvidence[];
  evidence: string[];
}

export interface ReportPair {
  name: string;
  a: string;
  b: string;
  status: ReportStatus;
  observedAt: string | null;
  spis: string | null;
  lastTraffic: string | null;
  cipher: string | null;
  offload: string;
  evidence: string[];
}

export interface ReportPairClass {
  id: string;
  hostClasses: [string, string];
  pathClass: string;
  sitePairs: string[];
  /** Per site pair: how many of the class's pairs it holds and how many verify showed secured. */
  bySitePair: { sitePair: string; pairs: number; secured: number }[];
  pairs: number;
  method: string;
  cipher: string | null;
  /** Per side: the planned offload decision and hw_offload value. */
  offload: string[];
  verified: { secured: number; degraded: number; unsecured: number; unknown: number; notVerified: number };
  /** Pairs of this class in the verify evidence (all of them; the renderers may abridge). */
  pairList: ReportPair[];
  reasons: string[];
}

export interface ReportMesh {
  name: string;
  hosts: number;
  pairs: number;
  members: { name: string; site: string; hostClass: string }[];
  ike: string;
  pairClasses: ReportPairClass[];
  /** Verify entries for the mesh that are not a pair (a host that could not be read). */
  errors: string[];
}

export interface Report {
  format: "linkcrypt-report";
  version: 2;
  generatedAt: string;
  provenance: Provenance;
  inventory: string;
  policy: string;
  standards: typeof STANDARDS;
  /** One sentence: what is proven, what fails, what was not assessed. Never a bare "no findings". */
  headline: string;
  summary: {
    links: number;
    encryptedLinks: number;
    secured: number;
    espPairs: number;
    pairsSecured: number;
    controls: { pass: number; fail: number; notAssessed: number };
    findings: Record<string, number>;
  };
  warnings: string[];
  sites: string[];
  links: ReportLink[];
  meshes: ReportMesh[];
  controls: ControlResult[];
  exceptions: ReportException[];
  findings: Finding[];
}

export interface ReportInputs {
  generatedAt: string;
  tool: { version: string; commit: string | null };
  verify?: { report: VerifyReport; provenance: VerifyProvenance };
  /** The saved plan file's bytes and name, when the report is made from one (its digest is of those bytes). */
  planFile?: { name: string; bytes: Buffer };
  journal?: readonly JournalEntry[];
  /** When each MACsec link's CAK was created (the state store's `macsec/<link>` secret date), by link name. */
  keyCreatedAt?: ReadonlyMap<string, string>;
  exceptions?: readonly ExceptionRecord[];
}

const fmtAge = (s: number) =>
  s < 120
    ? `${Math.round(s)} s`
    : s < 3600
      ? `${Math.round(s / 60)} min`
      : s < 172800
        ? `${(s / 3600).toFixed(1)} h`
        : `${(s / 86400).toFixed(1)} days`;

function sideText(s: SidePlan): string {
  const what =
    s.decision === "nic-packet-offload"
      ? "NIC packet offload"
      : s.decision === "nic-crypto-offload"
        ? "NIC crypto offload"
        : "no offload (kernel xfrm in software)";
  return `${s.hostClass}: ${what}, hw_offload=${s.hwOffload}`;
}

export function buildReport(plan: Plan, profiles: ProfileSet, inp: ReportInputs): Report {
  const verify = inp.verify?.report;
  const entries = verify?.entries ?? [];
  const byName = new Map(entries.map((e) => [e.name, e]));
  const now = Date.parse(inp.generatedAt);
  const keyAges = new Map<string, number>();
  const links: ReportLink[] = plan.links.map((l) => {
    const e = byName.get(l.name);
    const created = inp.keyCreatedAt?.get(l.name);
    let keyAge: ReportLink["keyAge"] = { seconds: null, source: "not known", text: "not known" };
    if (l.method === "l1" && e?.keyAgeSeconds !== undefined)
      keyAge = { seconds: e.keyAgeSeconds, source: `encryptors, observed ${e.observedAt}`, text: fmtAge(e.keyAgeSeconds) };
    else if (l.method === "macsec" && created && !Number.isNaN(Date.parse(created))) {
      const s = Math.max(0, (now - Date.parse(created)) / 1000);
      keyAge = { seconds: Math.round(s), source: `CAK created ${created} (state store)`, text: `${fmtAge(s)} (CAK)` };
    } else if (l.method === "macsec")
      keyAge = {
        seconds: null,
        source: "no state store given (--state, or the inventory's state: block)",
        text: "not known: no state store",
      };
    else if (l.method === "l1") keyAge = { seconds: null, source: "no verify evidence", text: "not known: not verified" };
    else keyAge = { seconds: null, source: "no key", text: "no key" };
    if (keyAge.seconds !== null) keyAges.set(l.name, keyAge.seconds);
    const ends = e?.ends ?? [];
    const proof: string[] = [];
    const missing: string[] = [];
    for (const x of ends) {
      if (x.error) {
        proof.push(`${x.device}: not read (${x.error})`);
        continue;
      }
      if (l.method === "macsec")
        proof.push(
          `${x.device} ${x.port}: ${x.status}${x.cipher ? `, ${x.cipher}` : ""}; MKA peer ${x.mkaPeer ?? "not reported"}; key number ${x.keyNumber ?? "not reported"} (${x.detail ?? ""})`,
        );
      else if (l.method === "l1") {
        const cipherPart = x.cipher ? `, ${x.cipher}` : "";
        const keyAgePart = x.keyAgeSeconds !== undefined ? `, key age ${fmtAge(x.keyAgeSeconds)}` : "";
        const keyGenerationPart = x.keyNumber !== undefined ? `, key generation ${x.keyNumber}` : "";
        proof.push(`${x.device}: ${x.detail ?? x.status}${cipherPart}${keyAgePart}${keyGenerationPart}`);
      }
    }
    if (!ends.length && e) proof.push(...e.evidence);
    if (l.method === "macsec" && e && ends.some((x) => !x.error && (x.mkaPeer === undefined || x.keyNumber === undefined)))
      missing.push("MKA peer and key number: the device's driver does not report them");
    if (l.method === "l1" && e && ends.some((x) => !x.error && x.keyAgeSeconds === undefined))
      missing.push("key age not reported by an encryptor");
    if ((l.method === "macsec" || l.method === "l1") && !e) missing.push("no verify evidence for this link");
    const last = [...(inp.journal ?? [])]
      .reverse()
      .find((j) => j.target === l.name && (j.step === "transaction" || j.step === "confirm" || j.step === "stage"));
    const applyNote = last?.state === "failed" ? [`last apply failed (${last.at}): ${last.detail ?? ""}`] : [];
    proof.unshift(...applyNote);
    const evidence = [...applyNote, ...(e?.evidence ?? [])];
    return {
      name: l.name,
      sites: l.sites,
      a: l.a,
      b: l.b,
      medium: l.medium,
      speed: l.speed,
      method: l.method,
      cipher: l.l1?.cipher ?? l.cipher,
      keyManagement: l.keyManagement,
      encryptors: l.l1?.encryptors ?? null,
      keyAge,
      certifiedHardware: l.l1?.certifications.join(", ") || "-",
      hardware:
        l.method === "macsec"
          ? "MACsec in the switch ports"
          : l.method === "l1"
            ? `L1 encryptors ${l.l1?.family ?? ""}`.trim()
            : l.method === "host-mesh"
              ? `host ESP (mesh ${l.mesh ?? "?"})`
              : "none",
      mtu: { overheadBytes: l.mtu.overheadBytes, maxInnerMtu: l.mtu.maxInnerMtu },
      status: e?.status ?? "not verified",
      observedAt: e?.observedAt ?? null,
      proof,
      missing,
      ends,
      evidence,
    };
  });

  const meshes: ReportMesh[] = plan.meshes.map((m) => {
    const hc = new Map(m.members.map((x) => [x.name, x.hostClass]));
    const site = new Map(m.members.map((x) => [x.name, x.site]));
    const pathOf = (sa: string, sb: string) =>
      m.pathClasses.find((p) => p.sitePairs.includes(`${sa}~${sb}`) || p.sitePairs.includes(`${sb}~${sa}`))?.id;
    const classOf = (a: string, b: string) => {
      const [x, y] = [hc.get(a), hc.get(b)];
      const path = pathOf(site.get(a) ?? "", site.get(b) ?? "");
      return m.pairClasses.find(
        (c) =>
          c.pathClass === path &&
          ((c.hostClasses[0] === x && c.hostClasses[1] === y) || (c.hostClasses[0] === y && c.hostClasses[1] === x)),
      );
    };
    const classesAt = new Map<string, Set<string>>();
    for (const x of m.members) classesAt.set(x.site, (classesAt.get(x.site) ?? new Set()).add(x.hostClass));
    const pairsOf = new Map<string, ReportPair[]>();
    const errors: string[] = [];
    for (const e of entries) {
      if (e.kind !== "pair" || !e.name.startsWith(`${m.name}:`)) continue;
      const [a, b] = e.name.slice(m.name.length + 1).split("~") as [string, string | undefined];
      const c = b !== undefined ? classOf(a, b) : undefined;
      if (!c || b === undefined) {
        errors.push(`${e.name}: ${e.status}: ${e.evidence.join("; ")}`);
        continue;
      }
      const sa = e.sa;
      const offload = sa?.userspaceEsp
        ? "ESP in user space (kernel-libipsec): no kernel or NIC offload"
        : c.sides
          ? c.sides.map(sideText).join("; ") + " (planned)"
          : "-";
      pairsOf.set(c.id, [
        ...(pairsOf.get(c.id) ?? []),
        {
          name: e.name,
          a,
          b,
          status: e.status,
          observedAt: e.observedAt,
          spis: sa?.spis ? `${sa.spis.aIn}/${sa.spis.aOut}` : null,
          lastTraffic: sa?.lastTrafficSeconds !== undefined ? `${sa.lastTrafficSeconds} s ago` : sa ? "no packet yet" : null,
          cipher: sa?.cipher
            ? `${sa.cipher} (negotiated)`
            : c.cipher
              ? `${c.cipher} (planned; charon did not report the negotiated one)`
              : null,
          offload,
          evidence: e.evidence,
        },
      ]);
    }
    return {
      name: m.name,
      hosts: m.hosts,
      pairs: m.pairs,
      members: m.members.map((x) => ({ name: x.name, site: x.site, hostClass: x.hostClass })),
      ike: `${m.ike.proposals.join(", ")}; PFS ${m.ike.pfs ? m.ike.pfsGroup : "off"}; IKE ${m.ike.lifetimeSeconds} s, CHILD ${m.ike.childLifetimeSeconds} s`,
      errors,
      pairClasses: m.pairClasses.map((c) => {
        const list = (pairsOf.get(c.id) ?? []).sort((x, y) => (x.name < y.name ? -1 : 1));
        const n = (s: string) => list.filter((p) => p.status === s).length;
        const path = m.pathClasses.find((p) => p.id === c.pathClass);
        const sitePairs = (path?.sitePairs ?? []).filter((sp) => {
          const [sa, sb] = sp.split("~") as [string, string];
          const at = (s: string, h: string) => classesAt.get(s)?.has(h) ?? false;
          return (at(sa, c.hostClasses[0]) && at(sb, c.hostClasses[1])) || (at(sa, c.hostClasses[1]) && at(sb, c.hostClasses[0]));
        });
        const nAt = (s: string, h: string) => m.members.filter((x) => x.site === s && x.hostClass === h).length;
        const bySitePair = sitePairs.map((sp) => {
          const [sa, sb] = sp.split("~") as [string, string];
          const [x, y] = c.hostClasses;
          const pairs =
            sa === sb
              ? x === y
                ? (nAt(sa, x) * (nAt(sa, x) - 1)) / 2
                : nAt(sa, x) * nAt(sa, y)
              : x === y
                ? nAt(sa, x) * nAt(sb, x)
                : nAt(sa, x) * nAt(sb, y) + nAt(sa, y) * nAt(sb, x);
          const secured = list.filter(
            (p) => p.status === "secured" && [site.get(p.a), site.get(p.b)].sort().join("~") === [sa, sb].sort().join("~"),
          ).length;
          return { sitePair: sp, pairs, secured };
        });
        return {
          id: c.id,
          hostClasses: c.hostClasses,
          pathClass: c.pathClass,
          sitePairs,
          bySitePair,
          pairs: c.pairs,
          method: c.method,
          cipher: c.cipher,
          offload: c.sides ? c.sides.map(sideText) : [],
          verified: {
            secured: n("secured"),
            degraded: n("degraded"),
            unsecured: n("unsecured"),
            unknown: n("unknown"),
            notVerified: Math.max(0, c.pairs - list.length),
          },
          pairList: list,
          reasons: c.reasons,
        };
      }),
    };
  });

  const findings = evaluateCompliance(
    plan,
    profiles,
    verify,
    links
      .filter((l) => l.method === "macsec" && l.keyAge.seconds !== null)
      .map((l) => ({ subject: `link ${l.name}`, seconds: l.keyAge.seconds! })),
  );
  const vp = inp.verify?.provenance ?? null;
  const evidenceProblem = vp?.stale
    ? `the verify evidence is ${vp.ageHours} h old; the freshness limit is ${vp.maxAgeHours} h`
    : vp?.inventoryChanged
      ? "the inventory changed since the verify evidence was collected"
      : null;
  const controls = evaluateControls(plan, profiles, findings, { ...(verify ? { verify } : {}), evidenceProblem, keyAges });
  const count = (s: string) => findings.filter((f) => f.severity === s).length;
  const applied = lastApplied(inp.journal ?? []);
  const provenance: Provenance = {
    tool: inp.tool,
    generatedAt: inp.generatedAt,
    inventory: {
      name: plan.inventory,
      digest: plan.inputs.inventoryDigest,
      profilesDigest: plan.inputs.profilesDigest,
      factsDigest: plan.inputs.factsDigest ?? null,
    },
    plan: {
      digest: planDigest(plan, inp.planFile?.bytes),
      source: inp.planFile ? `plan file ${inp.planFile.name}` : "computed from the inventory by this run",
      appliedAt: applied?.at ?? null,
      appliedRun: applied?.run ?? null,
    },
    verify: vp,
  };
  const encrypted = links.filter((l) => l.method === "macsec" || l.method === "l1");
  const espPairs = meshes.reduce((n, m) => n + m.pairClasses.filter((c) => c.method === "esp").reduce((k, c) => k + c.pairs, 0), 0);
  const pairsSecured = meshes.reduce(
    (n, m) => n + m.pairClasses.filter((c) => c.method === "esp").reduce((k, c) => k + c.verified.secured, 0),
    0,
  );
  const cs = {
    pass: controls.filter((c) => c.status === "pass").length,
    fail: controls.filter((c) => c.status === "fail").length,
    notAssessed: controls.filter((c) => c.status === "not assessed").length,
  };
  const secured = encrypted.filter((l) => l.status === "secured").length;
  const evidenceNote = verify ? ` (evidence collected ${verify.observedAt})` : " (no verify evidence given)";
  const headline = [
    `${secured}/${encrypted.length} encrypted links and ${pairsSecured}/${espPairs} ESP pairs verified secured${evidenceNote}.`,
    `Controls: ${cs.pass} pass, ${cs.fail} fail, ${cs.notAssessed} not assessed.`,
    findings.length
      ? `Findings: ${["critical", "high", "medium", "low"].map((s) => `${count(s)} ${s}`).join(", ")}.`
      : cs.notAssessed
        ? `No findings among the controls assessed; ${cs.notAssessed} could not be assessed (see why below).`
        : "No findings: every control assessed and passed.",
  ].join(" ");
  return {
    format: "linkcrypt-report",
    version: 2,
    generatedAt: inp.generatedAt,
    provenance,
    inventory: plan.inventory,
    policy: plan.policy,
    standards: STANDARDS,
    headline,
    summary: {
      links: links.length,
      encryptedLinks: encrypted.length,
      secured,
      espPairs,
      pairsSecured,
      controls: cs,
      findings: { critical: count("critical"), high: count("high"), medium: count("medium"), low: count("low") },
    },
    warnings: [
      ...(vp?.warnings ?? []),
      ...(verify
        ? []
        : ["no verify evidence: nothing in this report was observed on the devices; run linkcrypt verify --out and pass it with --verify"]),
    ],
    sites: [...new Set(plan.links.flatMap((l) => l.sites).concat(plan.meshes.flatMap((m) => m.members.map((x) => x.site))))].sort(),
    links,
    meshes,
    controls,
    exceptions: collectExceptions(plan, applied?.at ?? inp.generatedAt, inp.exceptions),
    findings,
  };
}
