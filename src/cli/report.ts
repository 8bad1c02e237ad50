import { readFileSync } from "node:fs";
import { join } from "node:path";
import { InputError, UsageError } from "../errors.js";
import { hasErrors } from "../model/diagnostics.js";
import type { Inventory } from "../model/inventory-schema.js";
import { collectSamples, graphiteText, prometheusText } from "../metrics/metrics.js";
import { DirStateStore } from "../apply/state-store.js";
import { buildReport, reportHtml, reportMarkdown, type LastApply } from "../report/report.js";
import { SshPool } from "../transport/ssh.js";
import { verifyInventory, type VerifyReport } from "../verify/verify.js";
import { cliAccess, loadAll, planFromLoaded } from "./load.js";
import { meshHostsFor } from "./mesh.js";
import { EXIT, formatDiagnostics, formatTable, json, type Out } from "./output.js";
import { writeAtomically } from "./plan.js";

export interface VerifyCliOptions {
  json?: boolean;
  out?: string;
  facts?: string;
  secrets?: string;
  knownHosts?: string;
  profiles: string[];
}

/** `linkcrypt verify INVENTORY`: live state of every link and pair; exit 1 if anything is not secured. */
export async function runVerify(file: string, o: VerifyCliOptions, out: Out): Promise<number> {
  const l = loadAll(file, o.profiles, o.facts);
  const plan = planFromLoaded(l);
  if (!plan || !l.profiles || hasErrors(l.diagnostics)) {
    out.write(`${formatDiagnostics(l.diagnostics)}${file}: not valid\n`);
    return EXIT.problems;
  }
  const inv = l.data as Inventory;
  const access = cliAccess(o);
  const pool = new SshPool();
  const r = await verifyInventory(plan, inv, l.profiles, {
    access, now: () => new Date(),
    meshHosts: (name) => meshHostsFor(inv, plan.meshes.find((m) => m.name === name)!, pool, access),
  });
  await pool.closeAll();
  if (o.out) writeAtomically(o.out, json(r));
  if (o.json) out.write(json(r));
  else out.write(`${formatTable(["kind", "name", "method", "status", "evidence"], r.entries.map((e) => [e.kind, e.name, e.method, e.status, e.evidence.join("; ")]))}\n`);
  return r.entries.every((e) => e.status === "secured") ? EXIT.ok : EXIT.problems;
}

/** `linkcrypt report INVENTORY [--verify verify.json] --format json|md|html`: what is encrypted, how, and findings. */
export function runReport(file: string, o: { format?: string; out?: string; verify?: string; facts?: string; stateDir?: string; profiles: string[] }, out: Out): number {
  const format = o.format ?? "md";
  if (!["json", "md", "markdown", "html"].includes(format)) throw new UsageError(`--format must be json, md or html, got "${format}"`);
  const l = loadAll(file, o.profiles, o.facts);
  const plan = planFromLoaded(l);
  if (!plan || !l.profiles) {
    out.write(`${formatDiagnostics(l.diagnostics)}${file}: not valid\n`);
    return EXIT.problems;
  }
  const verify = o.verify ? readVerify(o.verify) : undefined;
  let last: LastApply | undefined;
  if (o.stateDir) {
    last = new Map();
    for (const e of new DirStateStore(o.stateDir).journal()) if (e.step === "transaction" || e.step === "confirm" || e.step === "stage") last.set(e.target, { state: e.state, detail: e.detail ?? "", at: e.at });
  }
  const r = buildReport(plan, l.profiles, new Date().toISOString(), verify, last);
  const text = format === "json" ? json(r) : format === "html" ? reportHtml(r) : reportMarkdown(r);
  if (o.out) writeAtomically(o.out, text);
  else out.write(text);
  return r.findings.some((f) => f.severity === "critical" || f.severity === "high") ? EXIT.problems : EXIT.ok;
}

/** `linkcrypt metrics INVENTORY [--verify verify.json] [--format prometheus|graphite]`. */
export function runMetrics(file: string, o: { format?: string; verify?: string; prefix?: string; profiles: string[] }, out: Out): number {
  const format = o.format ?? "prometheus";
  if (format !== "prometheus" && format !== "graphite") throw new UsageError(`--format must be prometheus or graphite, got "${format}"`);
  const l = loadAll(file, o.profiles);
  const plan = planFromLoaded(l);
  if (!plan) {
    out.write(`${formatDiagnostics(l.diagnostics)}${file}: not valid\n`);
    return EXIT.problems;
  }
  const verify = o.verify ? readVerify(o.verify) : undefined;
  const samples = collectSamples(plan, verify);
  out.write(format === "prometheus" ? prometheusText(samples) : graphiteText(samples, o.prefix ?? `linkcrypt.${plan.inventory}`, Math.floor(Date.now() / 1000)));
  return EXIT.ok;
}

/** A `linkcrypt verify --out` file, or an InputError naming the file. */
function readVerify(file: string): VerifyReport {
  let verify: VerifyReport;
  try {
    verify = JSON.parse(readFileSync(file, "utf8")) as VerifyReport;
  } catch (e) {
    throw new InputError(`cannot read verify results ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (verify?.format !== "linkcrypt-verify") throw new InputError(`${file} is not the output of linkcrypt verify --out`);
  return verify;
}
