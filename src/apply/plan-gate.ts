import { InputError } from "../errors.js";
import { PLAN_FORMAT, PLAN_VERSION, type Plan } from "../planner/plan-types.js";
import { UNNAMED_INVENTORY } from "../model/resolve.js";

/**
 * The gate between a saved plan and apply. A plan file is only a request: apply re-derives every decision from the
 * inventory, profiles and facts it was given, refuses the file when it was made for another inventory, from other
 * inputs, or when any decision in it differs from the re-derived one, and from then on acts only on the re-derived
 * plan. So a hand-edited cipher, MTU, offload or member list is refused, naming each field and both values.
 */
export interface PlanGateInput {
  /** The parsed plan file, unchecked. */
  saved: unknown;
  /** The plan apply derives itself from the inventory, profiles and facts it was given. */
  fresh: Plan;
  planFile: string;
  inventoryFile: string;
  /** The facts file the fresh plan was made with, if any (for messages). */
  factsFile?: string | undefined;
}

/** Differences listed before "and N more". */
const SHOWN = 20;

/** Returns the plan to act on (always the re-derived one), or throws an InputError that says why the file is refused. */
export function gatePlan(g: PlanGateInput): Plan {
  const { saved, fresh, planFile } = g;
  if (saved === null || typeof saved !== "object" || Array.isArray(saved))
    throw new InputError(`${planFile} is not a linkcrypt plan (not a JSON object); make one with linkcrypt plan --out`);
  const s = saved as Partial<Plan>;
  if (s.format !== PLAN_FORMAT || s.version !== PLAN_VERSION)
    throw new InputError(
      `${planFile} is not a linkcrypt plan of version ${PLAN_VERSION} (format ${short(s.format)}, version ${short(s.version)}); make a new one with linkcrypt plan --out`,
    );
  if (typeof s.inventory !== "string" || s.inventory !== fresh.inventory)
    throw new InputError(
      `${planFile}: this plan was made for inventory ${short(s.inventory)}, but ${g.inventoryFile} is inventory ${JSON.stringify(fresh.inventory)}; ` +
        `apply a plan with the inventory it was made from, or make one for this inventory with linkcrypt plan ${g.inventoryFile} --out`,
    );
  const inputs = (s.inputs ?? {}) as Partial<Plan["inputs"]>;
  const stale = (["inventoryDigest", "profilesDigest", "factsDigest"] as const).filter((k) => inputs[k] !== fresh.inputs[k]);
  if (stale.length) {
    const what = stale.map((k) => k.replace("Digest", "")).join(" and ");
    const facts =
      stale.includes("factsDigest") && fresh.inputs.factsDigest === undefined
        ? " (the plan was made with --facts; give apply the same --facts)"
        : "";
    // Unnamed inventories all carry the name "inventory", so another unnamed one looks like a changed one.
    const unnamed =
      stale.includes("inventoryDigest") && fresh.inventory === UNNAMED_INVENTORY
        ? ` (or it was made for another inventory: give each inventory a name: to tell them apart)`
        : "";
    throw new InputError(`${planFile} is stale: the ${what} changed since it was made${facts}${unnamed}; run linkcrypt plan again`);
  }
  const diffs = planDecisionDiffs(s, fresh);
  if (diffs.length)
    throw new InputError(
      `${planFile} does not match the decisions re-derived from ${g.inventoryFile}${g.factsFile ? ` and ${g.factsFile}` : ""} (was it edited?); apply refuses it:\n` +
        `${diffs
          .slice(0, SHOWN)
          .map((d) => `  ${d}`)
          .join("\n")}${diffs.length > SHOWN ? `\n  ... and ${diffs.length - SHOWN} more` : ""}\n` +
        "make a new plan with linkcrypt plan --out",
    );
  if (typeof s.summary?.errors !== "number" || s.summary.errors > 0 || fresh.summary.errors > 0)
    throw new InputError(`${planFile} has ${fresh.summary.errors} error(s); fix them and plan again (apply refuses an errored plan)`);
  return fresh;
}

/**
 * Pure: every decision field that differs between a saved plan and a re-derived one, as
 * `link ab: cipher: plan has "GCM-AES-256", re-derived "GCM-AES-XPN-256"`. Lists of named entries (links, meshes,
 * members, host/path/pair classes) are matched by name or id, so a reordered list is not a difference.
 */
export function planDecisionDiffs(saved: Partial<Plan>, fresh: Plan): string[] {
  const out: string[] = [];
  if (saved.policy !== fresh.policy) out.push(`policy: plan has ${short(saved.policy)}, re-derived ${short(fresh.policy)}`);
  for (const [list, what] of [
    ["links", "link"],
    ["meshes", "mesh"],
  ] as const) {
    const a = keyed(saved[list]);
    const b = keyed(fresh[list]);
    if (!a) {
      out.push(`${list}: plan has ${short(saved[list])}, re-derived a list of ${fresh[list].length}`);
      continue;
    }
    for (const k of [...new Set([...a.keys(), ...b!.keys()])].sort()) {
      const x = a.get(k);
      const y = b!.get(k);
      if (x === undefined) out.push(`${what} ${k}: missing from the plan, re-derived from the inventory`);
      else if (y === undefined) out.push(`${what} ${k}: in the plan, but not in the inventory`);
      else diffValue(x, y, "", (path, p, q) => out.push(`${what} ${k}: ${path}: plan has ${short(p)}, re-derived ${short(q)}`));
    }
  }
  return out;
}

/** A list of objects keyed by `name` (or `id`), or undefined when it is not such a list. */
function keyed(v: unknown): Map<string, unknown> | undefined {
  if (!Array.isArray(v)) return undefined;
  const m = new Map<string, unknown>();
  for (const [i, x] of v.entries()) m.set(keyOf(x) ?? `#${i}`, x);
  return m;
}

function keyOf(x: unknown): string | undefined {
  if (x === null || typeof x !== "object") return undefined;
  const o = x as Record<string, unknown>;
  return typeof o.name === "string" ? o.name : typeof o.id === "string" ? o.id : undefined;
}

function diffValue(a: unknown, b: unknown, path: string, report: (path: string, a: unknown, b: unknown) => void): void {
  if (JSON.stringify(a) === JSON.stringify(b)) return;
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
  const join = (k: string) => (path ? `${path}.${k}` : k);
  if (isObj(a) && isObj(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) diffValue(a[k], b[k], join(k), report);
    return;
  }
  // Lists of named entries are matched by name; lists of values (reasons, families, proposals) compare whole.
  if (Array.isArray(a) && Array.isArray(b) && a.length && b.length && a.every(keyOf) && b.every(keyOf)) {
    const [ma, mb] = [keyed(a)!, keyed(b)!];
    for (const k of [...new Set([...ma.keys(), ...mb.keys()])].sort()) diffValue(ma.get(k), mb.get(k), `${path}[${k}]`, report);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.some((x) => x !== null && typeof x === "object")) {
    a.forEach((x, i) => diffValue(x, b[i], `${path}[${i}]`, report));
    return;
  }
  report(path || "(whole entry)", a, b);
}

/** A value for a message: JSON, cut short, control characters escaped by JSON.stringify. */
function short(v: unknown): string {
  if (v === undefined) return "nothing";
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
