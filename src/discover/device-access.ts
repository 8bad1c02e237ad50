// Moved to src/devices/device-access.ts (issue 13); this re-export stays while src/apply and src/cli import it from here.
export * from "../devices/device-access.js";
