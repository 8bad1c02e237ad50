import { hasErrors } from "../model/diagnostics.js";
import { loadAll } from "./load.js";
import { EXIT, formatDiagnostics, json, type Out } from "./output.js";

export function runValidate(file: string, opts: { json?: boolean; profiles: string[] }, out: Out): number {
  const l = loadAll(file, opts.profiles);
  const ok = !hasErrors(l.diagnostics);
  if (opts.json) out.write(json({ file, valid: ok, diagnostics: l.diagnostics }));
  else {
    out.write(formatDiagnostics(l.diagnostics));
    if (ok && l.model) {
      const m = l.model;
      out.write(
        `${file}: valid (${m.sites.length} sites, ${m.switches.size} switches, ${m.l1s.size} L1 encryptors, ` +
          `${m.hosts.size} hosts, ${m.links.length} links, ${m.meshes.length} meshes; policy ${m.policyName})\n`,
      );
    } else if (!ok) out.write(`${file}: not valid\n`);
  }
  return ok ? EXIT.ok : EXIT.problems;
}
