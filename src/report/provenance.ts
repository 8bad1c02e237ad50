import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { InputError } from "../errors.js";
import type { JournalEntry } from "../apply/state-store.js";
import type { Plan } from "../planner/plan-types.js";
import type { VerifyReport } from "../verify/verify.js";

/**
 * Where a report's evidence comes from, and the one checked reader of `verify --out` files that report and metrics
 * share: it refuses another inventory's file and says how old the evidence is.
 */
export const DEFAULT_EVIDENCE_MAX_AGE_HOURS = 24;

export interface VerifyProvenance {
  file: string;
  sha256: string;
  inventory: string | null;
  inventoryDigest: string;
  generator: string | null;
  startedAt: string | null;
  collectedAt: string;
  ageHours: number;
  maxAgeHours: number;
  stale: boolean;
  /** The inventory (same name) was edited after the evidence was collected. */
  inventoryChanged: boolean;
  warnings: string[];
}

export interface Provenance {
  tool: { version: string; commit: string | null };
  generatedAt: string;
  inventory: { name: string; digest: string; profilesDigest: string; factsDigest: string | null };
  plan: { digest: string; source: string; appliedAt: string | null; appliedRun: string | null };
  verify: VerifyProvenance | null;
}

const sha256 = (b: string | Buffer) => createHash("sha256").update(b).digest("hex");

/** The tool's version (package.json) and, when run from a git checkout, its commit (marked dirty if modified). */
export function toolIdentity(): { version: string; commit: string | null } {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  let version = "unknown";
  try {
    version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version?: string }).version ?? "unknown";
  } catch {
    /* an installed copy without package.json next to it: version stays unknown */
  }
  let commit: string | null = null;
  try {
    commit =
      execFileSync("git", ["-C", root, "rev-parse", "HEAD"], { stdio: ["ignore", "pipe", "ignore"], timeout: 5000 })
        .toString()
        .trim() || null;
  } catch {
    commit = null;
  }
  if (commit) {
    try {
      // Uncommitted changes to tracked files mean the code that ran is not exactly that commit: say so.
      const dirty = execFileSync("git", ["-C", root, "status", "--porcelain", "--untracked-files=no"], {
        stdio: ["ignore", "pipe", "ignore"],
        timeout: 5000,
      })
        .toString()
        .trim();
      if (dirty) commit = `${commit} (with uncommitted changes)`;
    } catch {
      /* leave the commit as read */
    }
  }
  if (!commit && process.env.LINKCRYPT_COMMIT) commit = process.env.LINKCRYPT_COMMIT;
  return { version, commit };
}

/** A plan's digest: of the saved file's bytes when one is given, else of the plan as this run computed it. */
export function planDigest(plan: Plan, fileBytes?: Buffer): string {
  return sha256(fileBytes ?? JSON.stringify(plan));
}

/** When the plan was last applied: the newest journal entry that finished a transaction or a mesh delivery. */
export function lastApplied(journal: readonly JournalEntry[]): { at: string; run: string } | null {
  let best: JournalEntry | null = null;
  for (const e of journal) if (e.state === "done" && (e.step === "confirm" || e.step === "mesh") && (!best || e.at > best.at)) best = e;
  return best ? { at: best.at, run: best.run } : null;
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const STATUSES = new Set(["secured", "degraded", "unsecured", "unknown"]);

/**
 * Reads and checks a verify file against the inventory it is used with. Refuses (InputError, exit 1): unreadable or
 * not JSON, not a verify file, a wrong shape, another inventory's name, or, for an older file without a name, another
 * inventory digest. Warns: evidence older than `maxAgeHours`, an inventory changed since, a time in the future.
 */
export function readVerifyFile(
  file: string,
  inv: { name: string; digest: string },
  o: { now: Date; maxAgeHours: number },
): { verify: VerifyReport; provenance: VerifyProvenance } {
  let bytes: Buffer;
  let raw: unknown;
  try {
    bytes = readFileSync(file);
    raw = JSON.parse(bytes.toString("utf8"));
  } catch (e) {
    throw new InputError(`cannot read verify results ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (!isObj(raw) || raw.format !== "linkcrypt-verify") throw new InputError(`${file} is not the output of linkcrypt verify --out`);
  const bad = (what: string) => new InputError(`${file}: not a valid linkcrypt verify file (${what})`);
  if (raw.version !== 1) throw bad(`version ${JSON.stringify(raw.version)}, this linkcrypt reads version 1`);
  if (!isObj(raw.plan) || typeof raw.plan.inventoryDigest !== "string") throw bad("no plan.inventoryDigest");
  if (typeof raw.observedAt !== "string" || Number.isNaN(Date.parse(raw.observedAt))) throw bad("no valid observedAt time");
  if (!Array.isArray(raw.entries)) throw bad("no entries list");
  raw.entries.forEach((e, i) => {
    if (
      !isObj(e) ||
      (e.kind !== "link" && e.kind !== "pair") ||
      typeof e.name !== "string" ||
      typeof e.method !== "string" ||
      !STATUSES.has(e.status as string) ||
      !Array.isArray(e.evidence) ||
      !e.evidence.every((x) => typeof x === "string") ||
      typeof e.observedAt !== "string"
    )
      throw bad(`entries[${i}] is not a link or pair result`);
    if (e.keyAgeSeconds !== undefined && (typeof e.keyAgeSeconds !== "number" || !Number.isFinite(e.keyAgeSeconds)))
      throw bad(`entries[${i}].keyAgeSeconds is not a number`);
  });
  if (
    raw.hosts !== undefined &&
    (!Array.isArray(raw.hosts) ||
      !raw.hosts.every((h) => isObj(h) && typeof h.host === "string" && typeof h.mesh === "string" && Array.isArray(h.xfrmDeltas)))
  )
    throw bad("hosts is not a list of mesh host counters");
  if (raw.exceptions !== undefined && (!Array.isArray(raw.exceptions) || !raw.exceptions.every((x) => isObj(x) && Array.isArray(x.hosts))))
    throw bad("exceptions is not a list of mesh exception records");
  const verify = raw as unknown as VerifyReport;
  const name = typeof raw.inventory === "string" ? raw.inventory : null;
  const digest = verify.plan.inventoryDigest;
  if (name !== null && name !== inv.name)
    throw new InputError(
      `${file} holds evidence from inventory "${name}", not "${inv.name}": refusing to report one inventory with another's evidence`,
    );
  const warnings: string[] = [];
  if (digest !== inv.digest) {
    if (name === null)
      throw new InputError(
        `${file} names no inventory and was made from a different inventory (digest ${digest.slice(0, 12)}…, this one ${inv.digest.slice(0, 12)}…): ` +
          "refusing evidence that may be another inventory's",
      );
    warnings.push(
      `the inventory changed since this evidence was collected (digest then ${digest.slice(0, 12)}…, now ${inv.digest.slice(0, 12)}…)`,
    );
  }
  const ageHours = (o.now.getTime() - Date.parse(verify.observedAt)) / 3_600_000;
  if (ageHours < -0.1) warnings.push(`the evidence is dated ${verify.observedAt}, in the future: check the clocks`);
  const stale = ageHours > o.maxAgeHours;
  if (stale) {
    const age = ageHours >= 48 ? `${Math.floor(ageHours / 24)} days` : `${ageHours.toFixed(1)} h`;
    warnings.push(
      `the evidence was collected ${verify.observedAt}, ${age} ago; the freshness limit is ${o.maxAgeHours} h: run linkcrypt verify again`,
    );
  }
  return {
    verify,
    provenance: {
      file,
      sha256: sha256(bytes),
      inventory: name,
      inventoryDigest: digest,
      generator: typeof raw.generator === "string" ? raw.generator : null,
      startedAt: typeof raw.startedAt === "string" ? raw.startedAt : null,
      collectedAt: verify.observedAt,
      ageHours: Math.round(ageHours * 100) / 100,
      maxAgeHours: o.maxAgeHours,
      stale,
      inventoryChanged: digest !== inv.digest,
      warnings,
    },
  };
}

/** The `mesh down --clear` exceptions a verify file carries (verify reads them from the mesh hosts), if any. */
export function verifyExceptions(v: VerifyReport | undefined): ExceptionRecord[] | undefined {
  const list = (v as { exceptions?: unknown } | undefined)?.exceptions;
  return Array.isArray(list) ? (list as ExceptionRecord[]) : undefined;
}

/** A `mesh down --clear` exception as the mesh state records it. */
export interface ExceptionRecord {
  hosts: string[];
  reason: string;
  who: string;
  when: string;
}

export interface ReportException {
  kind: "mesh-clear" | "policy-clear";
  subject: string;
  reason: string;
  who: string;
  when: string;
}

/**
 * The exceptions a report lists: `mesh down --clear` records (the source is wired by the mesh state), and every link
 * the policy lets stay unencrypted. Records of the wrong shape are kept, marked, rather than dropped.
 */
export function collectExceptions(plan: Plan, planAt: string, records?: readonly ExceptionRecord[]): ReportException[] {
  const out: ReportException[] = [];
  for (const r of records ?? []) {
    const hosts = Array.isArray(r?.hosts) ? r.hosts.map(String) : [];
    out.push({
      kind: "mesh-clear",
      subject: hosts.length ? `mesh hosts ${hosts.join(", ")} in clear` : "mesh hosts (none named) in clear",
      reason: typeof r?.reason === "string" && r.reason.trim() ? r.reason : "(no reason recorded)",
      who: typeof r?.who === "string" && r.who.trim() ? r.who : "(not recorded)",
      when: typeof r?.when === "string" && r.when.trim() ? r.when : "(not recorded)",
    });
  }
  for (const l of plan.links)
    if (l.method === "none")
      out.push({
        kind: "policy-clear",
        subject: `link ${l.name} (${l.medium}) in clear`,
        reason: l.reasons.join("; ") || `policy ${l.policy} trusts ${l.medium}`,
        who: `policy ${l.policy}`,
        when: planAt,
      });
  return out;
}
