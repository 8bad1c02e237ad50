import { z } from "zod";
import { InputError } from "../errors.js";
import { depthOver } from "../model/json-depth.js";

/**
 * The shape of a saved plan file, checked before anything reads it: the top-level fields a plan always has, with
 * their types, and a bound on nesting (a hand-made file nested thousands deep would overflow the stack of any
 * recursive comparison). The decisions inside are not checked here: apply re-derives them and compares
 * (src/apply/plan-gate.ts).
 */
export const PLAN_MAX_DEPTH = 64;

const Named = z.looseObject({ name: z.string() });
const PlanShape = z.looseObject({
  format: z.string(),
  version: z.number(),
  inventory: z.string(),
  policy: z.string(),
  inputs: z.looseObject({ inventoryDigest: z.string(), profilesDigest: z.string(), factsDigest: z.string().optional() }),
  summary: z.looseObject({ errors: z.number().int().nonnegative(), warnings: z.number().int().nonnegative() }),
  links: z.array(Named),
  meshes: z.array(Named),
});

/** Throws an InputError naming every field that is missing or of the wrong type; returns the value unchanged. */
export function checkPlanShape(saved: unknown, file: string): unknown {
  if (saved === null || typeof saved !== "object" || Array.isArray(saved))
    throw new InputError(`${file} is not a linkcrypt plan (not a JSON object); make one with linkcrypt plan --out`);
  if (depthOver(saved, PLAN_MAX_DEPTH)) throw new InputError(`${file} is nested deeper than ${PLAN_MAX_DEPTH} levels (the limit); it is not a linkcrypt plan`);
  const r = PlanShape.safeParse(saved);
  if (!r.success) {
    const what = r.error.issues.slice(0, 8).map((i) => `${i.path.map(String).join(".") || "(top)"}: ${i.message}`);
    throw new InputError(`${file} is not a well-formed linkcrypt plan: ${what.join("; ")}${r.error.issues.length > 8 ? ` (+${r.error.issues.length - 8} more)` : ""}; make a new one with linkcrypt plan --out`);
  }
  return saved;
}
