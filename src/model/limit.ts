/**
 * `--limit PATTERN`: which devices, links, sites and hosts a verb may touch (Ansible's `--limit`).
 *
 * A pattern is a comma- or colon-separated list of terms. Each term is a glob (`*`, `?`, `[abc]`) matched against a
 * name, or `!term` to exclude. A thing is selected when it matches at least one positive term (or there are none)
 * and no negative term. A link matches by its own name, either end's device or either end's site; a mesh host by
 * its name or its site; a device (switch, L1 encryptor) by its name or its site.
 *
 * Pure: no I/O. A pattern that matches nothing is an error (`LimitError`), so a typo never silently selects nothing.
 */

import { UsageError } from "../errors.js";

export interface LimitTerm {
  negate: boolean;
  glob: string;
  re: RegExp;
}

export interface Limit {
  source: string;
  terms: LimitTerm[];
}

export interface LimitTargets {
  links: readonly { name: string; a: { device: string; site: string }; b: { device: string; site: string } }[];
  hosts: readonly { name: string; site: string }[];
  devices: readonly { name: string; site: string }[];
}

export interface LimitSelection {
  links: Set<string>;
  hosts: Set<string>;
  devices: Set<string>;
}

function globToRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*") out += ".*";
    else if (c === "?") out += ".";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 1);
      if (end < 0) throw new UsageError(`--limit: unclosed "[" in "${glob}"`);
      const body = glob.slice(i + 1, end).replace(/\\/g, "\\\\");
      if (body.length === 0) throw new UsageError(`--limit: empty "[]" in "${glob}"`);
      out += `[${body.startsWith("!") ? `^${body.slice(1)}` : body}]`;
      i = end;
    } else out += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

/** Parse `--limit`. Throws UsageError (exit 64) on an empty or malformed pattern. */
export function parseLimit(source: string): Limit {
  const parts = source
    .split(/[,:]/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (parts.length === 0) throw new UsageError(`--limit: empty pattern "${source}"`);
  const terms = parts.map((p) => {
    const negate = p.startsWith("!");
    const glob = negate ? p.slice(1) : p;
    if (glob.length === 0) throw new UsageError(`--limit: "!" needs a name after it in "${source}"`);
    return { negate, glob, re: globToRegExp(glob) };
  });
  return { source, terms };
}

function selected(limit: Limit, names: readonly string[]): boolean {
  const pos = limit.terms.filter((t) => !t.negate);
  const neg = limit.terms.filter((t) => t.negate);
  if (neg.some((t) => names.some((n) => t.re.test(n)))) return false;
  return pos.length === 0 || pos.some((t) => names.some((n) => t.re.test(n)));
}

/** The names a limit selects among the targets. */
export function applyLimit(limit: Limit, targets: LimitTargets): LimitSelection {
  const links = new Set<string>();
  const hosts = new Set<string>();
  const devices = new Set<string>();
  for (const l of targets.links) {
    if (selected(limit, [l.name, l.a.device, l.b.device, l.a.site, l.b.site])) links.add(l.name);
  }
  for (const h of targets.hosts) if (selected(limit, [h.name, h.site])) hosts.add(h.name);
  for (const d of targets.devices) if (selected(limit, [d.name, d.site])) devices.add(d.name);
  return { links, hosts, devices };
}

/** Like applyLimit, but a positive term that matches nothing at all is a UsageError naming it (a typo, not a no-op). */
export function selectLimited(limit: Limit, targets: LimitTargets): LimitSelection {
  const all = [
    ...targets.links.flatMap((l) => [l.name, l.a.device, l.b.device, l.a.site, l.b.site]),
    ...targets.hosts.flatMap((h) => [h.name, h.site]),
    ...targets.devices.flatMap((d) => [d.name, d.site]),
  ];
  for (const t of limit.terms) {
    if (!t.negate && !all.some((n) => t.re.test(n))) {
      throw new UsageError(`--limit: "${t.glob}" matches no link, device, site or host in the inventory`);
    }
  }
  return applyLimit(limit, targets);
}

/** `--batch N|N%`: split an ordered list into consecutive batches (Ansible's `serial`). */
export function parseBatch(source: string): { count: number } | { percent: number } {
  const m = /^(\d+)(%?)$/.exec(source.trim());
  const n = m ? Number(m[1]) : Number.NaN;
  if (!m || !Number.isSafeInteger(n) || n < 1 || (m[2] === "%" && n > 100)) {
    throw new UsageError(`--batch: expected a whole number ≥ 1 or a percentage 1–100% (got "${source}")`);
  }
  return m[2] === "%" ? { percent: n } : { count: n };
}

export function batches<T>(items: readonly T[], batch: { count: number } | { percent: number }): T[][] {
  if (items.length === 0) return [];
  const size = "count" in batch ? batch.count : Math.max(1, Math.ceil((items.length * batch.percent) / 100));
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
