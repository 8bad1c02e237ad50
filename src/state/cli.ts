import { dirname, resolve } from "node:path";
import type { SecretSources } from "../secrets.js";
import { openState } from "./open.js";
import type { StateStore } from "./store.js";
import { UNNAMED_INVENTORY } from "../model/resolve.js";

/** The state options every verb that reads or writes state takes (--state, --state-dir, --state-key). */
export interface StateCliOptions {
  state?: string;
  stateDir?: string;
  stateKey?: string;
}

/**
 * Opens the inventory's state from the options, else from the inventory's own `state:` block (give `inventoryFile`
 * and that block), else the default location.
 */
export function openCliState(
  o: StateCliOptions,
  inventory: string,
  secrets: SecretSources,
  err: { write(s: string): unknown },
  fromInventory?: { file: string; state?: { location?: string | undefined; key?: string | undefined } | undefined },
): Promise<StateStore> {
  const inventoryState = fromInventory?.state ? { ...fromInventory.state, base: dirname(resolve(fromInventory.file)) } : undefined;
  if (inventory === UNNAMED_INVENTORY && !o.state && !o.stateDir && !inventoryState?.location)
    err.write(
      `warning: ${fromInventory?.file ?? "the inventory"} has no name:, so its state (journal, lock, keys) is kept as ` +
        `"${UNNAMED_INVENTORY}", shared with every other unnamed inventory; give it a name: (or --state)\n`,
    );
  return openState({
    state: o.state,
    stateDir: o.stateDir,
    stateKey: o.stateKey,
    inventory,
    secrets,
    inventoryState,
    say: (l) => void err.write(`${l}\n`),
  });
}

export const EXIT_INTERRUPTED = 130;

/**
 * Runs `fn` with SIGINT and SIGTERM turned into an AbortSignal. The first signal asks the run to stop: no new link
 * starts, the one in flight is finished or rolled back on both ends, the journal is written and the lock released
 * by the caller's own `finally`. A second signal exits at once (130): the journal is written before every device
 * step, so it is consistent, and the next run cancels whatever is left pending, as after a SIGKILL.
 */
export async function withInterrupts<T>(
  store: StateStore,
  err: { write(s: string): unknown },
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<{ value: T; interrupted: boolean }> {
  const ac = new AbortController();
  let count = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    count++;
    if (count === 1) {
      err.write(
        `\n${sig}: stopping. No new link starts; the one in flight is finished or rolled back on both ends (${sig === "SIGINT" ? "Ctrl-C" : "signal"} again to abort at once)\n`,
      );
      // Test-only (docs/apply.md): stands for a device slow to roll back, so a test can send the second signal in time.
      const delay = Number(process.env.LINKCRYPT_TEST_STOP_DELAY_MS) || 0;
      if (delay > 0) setTimeout(() => ac.abort(), delay).unref();
      else ac.abort();
      return;
    }
    err.write(`${sig} again: aborting at once. The journal is consistent; the next run cancels any unconfirmed commit and recovers\n`);
    store.unlockNow();
    process.exit(EXIT_INTERRUPTED);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const value = await fn(ac.signal);
    return { value, interrupted: ac.signal.aborted };
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
