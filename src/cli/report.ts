import { checkPlanShape } from "../apply/plan-shape.js";
import { readFileSync } from "node:fs";
import { InputError, UsageError } from "../errors.js";
import { hasErrors } from "../model/diagnostics.js";
import type { Inventory } from "../model/inventory-schema.js";
import { agesAt, fileKeyStamps, keyStamps, type KeyStamp } from "../metrics/key-ages.js";
import { collectSamples, graphiteText, prometheusText } from "../metrics/metrics.js";
import type { JournalEntry } from "../apply/state-store.js";
import type { Plan } from "../planner/plan-types.js";
import { htmlToPdf } from "../report/pdf.js";
import {
  DEFAULT_EVIDENCE_MAX_AGE_HOURS,
  readVerifyFile,
  toolIdentity,
  verifyExceptions,
  type ExceptionRecord,
} from "../report/provenance.js";
import { buildReport } from "../report/report.js";
import { reportHtml, reportMarkdown } from "../report/render.js";
import { topologyDot, topologyFigures, topologyMermaid } from "../report/topology.js";
import { openCliState } from "../state/cli.js";
import { SshPool } from "../transport/ssh.js";
import { verifyInventory } from "../verify/verify.js";
import { limitScope } from "../discover/limit-targets.js";
import { cliAccess, loadAll, planFromLoaded } from "./load.js";
import { meshHostsFor, pskMasterSecretName } from "../mesh/mesh-access.js";
import { EXIT, invalidInventory, formatTable, json, type Out } from "./output.js";
import { writeAtomically } from "./plan.js";

export interface VerifyCliOptions {
  json?: boolean;
  out?: string;
  facts?: string;
  secrets?: string;
  knownHosts?: string;
  profiles: string[];
  limit?: string;
  sshConfig?: string;
}

/** `linkcrypt verify INVENTORY`: live state of every link and pair; exit 1 if anything is not secured. */
export async function runVerify(file: string, o: VerifyCliOptions, out: Out): Promise<number> {
  const l = loadAll(file, o.profiles, o.facts);
  const plan = planFromLoaded(l);
  if (!plan || !l.profiles || hasErrors(l.diagnostics)) {
    out.write(invalidInventory(file, l.diagnostics, o.json, "not valid"));
    return EXIT.problems;
  }
  const inv = l.data as Inventory;
  // --limit is checked before anything is contacted: a term that matches nothing exits 64 naming it.
  const limit = limitScope(inv, o.limit);
  const access = { ...cliAccess(o), ...(o.sshConfig ? { sshConfigFile: o.sshConfig } : {}) };
  const pool = new SshPool();
  const r = await verifyInventory(plan, inv, l.profiles, {
    access,
    now: () => new Date(),
    meshHosts: (name, only) => meshHostsFor(inv, plan.meshes.find((m) => m.name === name)!, pool, access, only),
    ...(limit ? { limit } : {}),
  });
  await pool.closeAll();
  if (o.out) writeAtomically(o.out, json(r));
  if (o.json) out.write(json(r));
  else
    out.write(
      `${formatTable(
        ["kind", "name", "method", "status", "evidence"],
        r.entries.map((e) => [e.kind, e.name, e.method, e.status, e.evidence.join("; ")]),
      )}\n${r.limit ? `--limit ${r.limit.pattern}: ${r.limit.limitedOut.links.length} link(s) and ${r.limit.limitedOut.pairs.length} mesh pair(s) not verified\n` : ""}`,
    );
  return r.entries.every((e) => e.status === "secured") ? EXIT.ok : EXIT.problems;
}

export interface ReportCliOptions {
  format?: string;
  /** Same as --format json. */
  json?: boolean;
  out?: string;
  verify?: string;
  plan?: string;
  facts?: string;
  state?: string;
  stateDir?: string;
  stateKey?: string;
  secrets?: string;
  maxEvidenceAge?: string;
  profiles: string[];
}

/** --max-evidence-age in hours: a positive number, default 24. */
function maxAgeHours(v: string | undefined): number {
  if (v === undefined) return DEFAULT_EVIDENCE_MAX_AGE_HOURS;
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v.trim()) || !Number.isFinite(n) || n <= 0 || n > 24 * 3650)
    throw new UsageError(`--max-evidence-age must be a number of hours above 0, got "${v}"`);
  return n;
}

/**
 * `linkcrypt report INVENTORY [--verify verify.json] [--plan plan.json] [--state-dir D] --format json|md|html|pdf`:
 * what is encrypted, how, what proves it, and each framework's controls.
 */
export async function runReport(file: string, o: ReportCliOptions, out: Out, err: Out = { write: () => undefined }): Promise<number> {
  // --json is --format json, as on every other verb.
  if (o.json && o.format && o.format !== "json")
    throw new UsageError(`--json prints the report as JSON; it cannot be combined with --format ${o.format}`);
  const format = o.json ? "json" : (o.format ?? "md");
  if (!["json", "md", "markdown", "html", "pdf"].includes(format))
    throw new UsageError(`--format must be json, md, html or pdf, got "${format}"`);
  if (format === "pdf" && !o.out) throw new UsageError("--format pdf writes a binary file: give --out FILE.pdf");
  const maxAge = maxAgeHours(o.maxEvidenceAge);
  const l = loadAll(file, o.profiles, o.facts);
  let plan = planFromLoaded(l);
  if (!plan || !l.profiles) {
    out.write(invalidInventory(file, l.diagnostics, format === "json" && !o.out, "not valid"));
    return EXIT.problems;
  }
  const warnings: string[] = [];
  // Evidence is checked against the inventory as it is now, also when the report describes an older saved plan.
  const current = { name: plan.inventory, digest: plan.inputs.inventoryDigest };
  let planFile: { name: string; bytes: Buffer } | undefined;
  if (o.plan) {
    let saved: Plan;
    let bytes: Buffer;
    try {
      bytes = readFileSync(o.plan);
      saved = JSON.parse(bytes.toString("utf8")) as Plan;
    } catch (e) {
      throw new InputError(`cannot read plan ${o.plan}: ${(e as Error).message}`, { cause: e });
    }
    checkPlanShape(saved, o.plan);
    if (
      saved?.format !== "linkcrypt-plan" ||
      !Array.isArray(saved.links) ||
      !Array.isArray(saved.meshes) ||
      typeof saved.inputs?.inventoryDigest !== "string"
    )
      throw new InputError(`${o.plan} is not the output of linkcrypt plan --out`);
    if (saved.inventory !== plan.inventory)
      throw new InputError(`${o.plan} is a plan for inventory "${saved.inventory}", not "${plan.inventory}"`);
    if (saved.inputs.inventoryDigest !== plan.inputs.inventoryDigest)
      warnings.push(`the plan ${o.plan} was made from an earlier version of the inventory (it changed since)`);
    plan = saved;
    planFile = { name: o.plan, bytes };
  }
  const now = new Date();
  const verify = o.verify ? readVerifyFile(o.verify, current, { now, maxAgeHours: maxAge }) : undefined;
  let journal: JournalEntry[] | undefined;
  let keyCreatedAt: Map<string, string> | undefined;
  // The state store: --state/--state-dir, else the inventory's own `state:` block (as apply and metrics read it).
  const invState = (l.data as Inventory | undefined)?.state;
  if (o.state || o.stateDir || invState) {
    const store = await openCliState(o, plan.inventory, cliAccess(o).secrets, err, { file, state: invState });
    try {
      journal = await store.journal();
      keyCreatedAt = new Map();
      for (const link of plan.links.filter((x) => x.method === "macsec")) {
        const at = await store.secretCreatedAt(`macsec/${link.name}`);
        if (at) keyCreatedAt.set(link.name, at);
      }
    } finally {
      await store.close();
    }
  }
  // `mesh down --clear` exception records: those the verify file carries (verify reads them from the mesh hosts).
  const exceptions: ExceptionRecord[] | undefined = verifyExceptions(verify?.verify);
  const r = buildReport(plan, l.profiles, {
    generatedAt: now.toISOString(),
    tool: toolIdentity(),
    ...(verify ? { verify: { report: verify.verify, provenance: verify.provenance } } : {}),
    ...(planFile ? { planFile } : {}),
    ...(journal ? { journal } : {}),
    ...(keyCreatedAt ? { keyCreatedAt } : {}),
    ...(exceptions ? { exceptions } : {}),
  });
  r.warnings.unshift(...warnings);
  for (const w of r.warnings) err.write(`warning: ${w}\n`);
  if (format === "json") emit(o.out, json({ ...r, topology: { dot: topologyDot(r), mermaid: topologyMermaid(r) } }), out);
  else if (format === "md" || format === "markdown") emit(o.out, reportMarkdown(r), out);
  else {
    const html = reportHtml(r, await topologyFigures(r));
    if (format === "html") emit(o.out, html, out);
    else {
      writeAtomically(o.out!, await htmlToPdf(html));
    }
  }
  return r.controls.some((c) => c.status === "fail") || r.findings.some((f) => f.severity === "critical" || f.severity === "high")
    ? EXIT.problems
    : EXIT.ok;
}

function emit(file: string | undefined, text: string, out: Out): void {
  if (file) writeAtomically(file, text);
  else out.write(text);
}

export interface MetricsCliOptions {
  format?: string;
  verify?: string;
  prefix?: string;
  maxEvidenceAge?: string;
  json?: boolean;
  profiles: string[];
  /** The state store to read key times from (runMetricsWithState); else the inventory's own `state:` block. */
  state?: string;
  stateDir?: string;
  stateKey?: string;
  secrets?: string;
}

/**
 * `linkcrypt metrics INVENTORY [--verify verify.json] [--format prometheus|graphite] [--json]`. Key ages that need
 * no state store (a `file:` PSK master's mtime) are included; runMetricsWithState adds those the store keeps.
 */
export function runMetrics(file: string, o: MetricsCliOptions, out: Out, err: Out = { write: () => undefined }): number {
  return metricsWith(file, o, out, err, (plan, inv) => fileKeyStamps(plan, inv));
}

/**
 * The same, with the key times the state store keeps (MACsec CAKs, `state:` PSK masters, rotations in the journal),
 * from --state or the inventory's `state:` block. The store is only read.
 */
export async function runMetricsWithState(
  file: string,
  o: MetricsCliOptions,
  out: Out,
  err: Out = { write: () => undefined },
): Promise<number> {
  const l = loadAll(file, o.profiles);
  const plan = planFromLoaded(l);
  const inv = l.data as Inventory | undefined;
  if (!plan || !inv || (!o.state && !o.stateDir && !inv.state)) return runMetrics(file, o, out, err);
  const store = await openCliState(o, plan.inventory, cliAccess(o).secrets, err, { file, state: inv.state });
  try {
    const stamps = await keyStamps(plan, inv, store, { pskMasterName: pskMasterSecretName });
    return metricsWith(file, o, out, err, () => stamps);
  } finally {
    await store.close();
  }
}

function metricsWith(file: string, o: MetricsCliOptions, out: Out, err: Out, stamps: (plan: Plan, inv: Inventory) => KeyStamp[]): number {
  const format = o.format ?? "prometheus";
  if (format !== "prometheus" && format !== "graphite") throw new UsageError(`--format must be prometheus or graphite, got "${format}"`);
  if (o.json && o.format) throw new UsageError(`--json prints the samples as JSON; it cannot be combined with --format ${o.format}`);
  const maxAge = maxAgeHours(o.maxEvidenceAge);
  const l = loadAll(file, o.profiles);
  const plan = planFromLoaded(l);
  if (!plan) {
    out.write(invalidInventory(file, l.diagnostics, o.json, "not valid"));
    return EXIT.problems;
  }
  const now = new Date();
  const v = o.verify
    ? readVerifyFile(o.verify, { name: plan.inventory, digest: plan.inputs.inventoryDigest }, { now, maxAgeHours: maxAge })
    : undefined;
  for (const w of v?.provenance.warnings ?? []) err.write(`warning: ${w}\n`);
  // The same code as serve's /metrics: collectSamples, with key times aged now.
  const samples = collectSamples(
    plan,
    v?.verify,
    agesAt(stamps(plan, l.data as Inventory), now.getTime()),
    v ? { collectedAt: v.provenance.collectedAt, now } : undefined,
  );
  // --json: the same samples as data, {inventory, samples: [{name, help, type, labels, value}]}.
  if (o.json) out.write(json({ inventory: plan.inventory, samples }));
  else
    out.write(
      format === "prometheus"
        ? prometheusText(samples)
        : graphiteText(samples, o.prefix ?? `linkcrypt.${plan.inventory}`, Math.floor(now.getTime() / 1000)),
    );
  return EXIT.ok;
}
