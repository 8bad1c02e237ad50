import { existsSync, readFileSync } from "node:fs";
import { openState } from "../../src/state/open.js";
import type { JournalEntry } from "../../src/state/store.js";

/** Reads an inventory's state the way linkcrypt does (for tests that ran apply with --state or --state-dir). */
async function withState<T>(
  where: { state?: string; stateDir?: string },
  inventory: string,
  fn: (s: Awaited<ReturnType<typeof openState>>) => Promise<T>,
): Promise<T> {
  const s = await openState({ ...where, inventory, secrets: { env: process.env } });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

export const stateJournal = (where: { state?: string; stateDir?: string }, inventory: string): Promise<JournalEntry[]> =>
  withState(where, inventory, (s) => s.journal());

export const stateSecret = (where: { state?: string; stateDir?: string }, inventory: string, name: string): Promise<string | undefined> =>
  withState(where, inventory, (s) => s.getSecret(name));

/** The raw bytes of a SQLite state (database and write-ahead log), to check that no secret is in them in clear. */
export function stateFileText(sqlitePath: string): string {
  return [sqlitePath, `${sqlitePath}-wal`]
    .filter(existsSync)
    .map((f) => readFileSync(f).toString("latin1"))
    .join("\n");
}
