// Moved to src/planner/conn-spec.ts (issue 13); this re-export stays while src/apply and src/serve import it from here.
export * from "../planner/conn-spec.js";
