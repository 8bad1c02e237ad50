/**
 * The state apply, rotate, keys and report share: see src/state/ (the StateStore contract, its SQLite and
 * PostgreSQL backends, sealed secrets and where an inventory's state lives). The `.linkcrypt/` directory of older
 * versions (apply.lock, journal.jsonl, secrets.json in clear) is no longer written; it is imported once.
 */
export { StateStore, type JournalEntry, type LockHolder } from "../state/store.js";
export { openState, importLegacyDir, stateLocation, STATE_HELP, STATE_KEY_HELP, type StateOptions } from "../state/open.js";
