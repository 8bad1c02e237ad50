// Moved to src/util/read-bounded.ts (issue 13); this re-export stays while src/transport, src/secrets.ts and src/cli/apply.ts import it from here.
export * from "../util/read-bounded.js";
