import { writeFileAtomic } from "../util/atomic-write.js";
import { hasErrors } from "../model/diagnostics.js";
import { InputError } from "../errors.js";
import { loadAll, planFromLoaded } from "./load.js";
import { EXIT, formatDiagnostics, json, type Out } from "./output.js";
import { planText } from "./plan-text.js";

export function runPlan(file: string, opts: { json?: boolean; out?: string; profiles: string[]; facts?: string }, out: Out): number {
  const l = loadAll(file, opts.profiles, opts.facts);
  const plan = planFromLoaded(l);
  if (!plan) {
    if (opts.json) out.write(json({ file, valid: false, diagnostics: l.diagnostics }));
    else out.write(`${formatDiagnostics(l.diagnostics)}${file}: not valid; no plan made\n`);
    return EXIT.problems;
  }
  if (opts.out) writeAtomically(opts.out, json(plan));
  if (opts.json) out.write(json(plan));
  else {
    out.write(planText(plan));
    if (opts.out) out.write(`Plan saved to ${opts.out}\n`);
  }
  return hasErrors(plan.diagnostics) ? EXIT.problems : EXIT.ok;
}

/** Write to a temporary file and rename it into place, so a crash never leaves half a plan. */
export function writeAtomically(path: string, content: string | Uint8Array): void {
  try {
    writeFileAtomic(path, content); // the umask decides the mode, as for any file the user writes
  } catch (e) {
    throw new InputError(`cannot write ${path}: ${(e as Error).message}`, { cause: e });
  }
}
