import { z } from "zod";
import type { JournalEntry } from "../state/store.js";
import type { Clock } from "./clock.js";

/**
 * The apply journal, typed. The state store keeps rows of {at, run, step, target, state, detail} (src/state/store.ts);
 * apply and rotate write and read them only through this module, as the union below. A row's `detail` is either a
 * message for people (failures, evidence) or, where an entry carries data that a later run acts on (the confirm
 * deadline and the commit token), a JSON object: nothing is parsed back out of prose.
 *
 * Rows written by older versions are still read: their commit entries said `confirm deadline <ISO time>` and had no
 * token (the token was always `commitToken(run, target)`); `decodeJournal` reads them as the same typed entry.
 */
export type EntryState = JournalEntry["state"];
export type RotateStep = "install-next-key" | "retire-old-key";

interface Base {
  /** Epoch milliseconds. */
  at: number;
  run: string;
  target: string;
  /**
   * "rotate": a stage, commit, verify or confirm of a key rotation's transaction (stored as `rotate commit` and so
   * on), so that it is recovered like apply's but not taken for an apply of the plan (the report's "last applied").
   */
  scope?: "rotate";
}

const PHASES = new Set(["stage", "commit", "verify", "confirm"]);

export type ApplyJournalEntry = Base &
  (
    | { step: "stage"; state: "started" }
    | { step: "stage"; state: "done"; unchanged: boolean }
    | { step: "stage"; state: "rolled-back"; message: string }
    | {
        step: "commit";
        state: "started" /** Epoch ms at which the devices roll back by themselves. */;
        confirmDeadline: number;
        token: string;
      }
    | { step: "commit"; state: "done" }
    | { step: "commit"; state: "rolled-back"; message: string }
    | { step: "verify"; state: "started" }
    | { step: "verify"; state: "done"; evidence: string[] }
    | { step: "verify"; state: "rolled-back"; message: string }
    | { step: "confirm"; state: "done" }
    | { step: "transaction"; state: "failed"; message: string }
    | { step: "mesh"; state: "started" }
    | { step: "mesh"; state: "done" | "failed"; message: string }
    | { step: "keys"; state: "done"; keys: string[]; message: string }
    | { step: "rotate"; rotateStep: RotateStep; state: EntryState; message?: string }
    | { step: "rotate psk-master"; state: "done"; message?: string }
    /** A row this module does not write (serve's, or an unknown shape): kept as it is. */
    | { step: "other"; state: EntryState; row: JournalEntry }
  );

/** An entry before the journal stamps it with the time and the run. */
export type JournalDraft = ApplyJournalEntry extends infer E ? (E extends ApplyJournalEntry ? Omit<E, "at" | "run"> : never) : never;

/** The handle a link's confirmed commit can be confirmed or cancelled by from a later process (NETCONF persist-id). */
export function commitToken(run: string, target: string): string {
  return `linkcrypt-${run}-${target}`;
}

const CommitData = z.object({ confirmDeadline: z.string(), token: z.string().min(1) });
const LEGACY_DEADLINE = "confirm deadline ";

/** A typed entry as the store's row. */
export function encodeEntry(e: ApplyJournalEntry): JournalEntry {
  const row = (step: string, detail?: string): JournalEntry => ({
    at: new Date(e.at).toISOString(),
    run: e.run,
    step: e.scope === "rotate" && PHASES.has(step) ? `rotate ${step}` : step,
    target: e.target,
    state: e.state,
    ...(detail !== undefined ? { detail } : {}),
  });
  switch (e.step) {
    case "stage":
      if (e.state === "done") return row("stage", e.unchanged ? "no change" : undefined);
      return row("stage", e.state === "rolled-back" ? e.message : undefined);
    case "commit":
      if (e.state === "started")
        return row("commit", JSON.stringify({ confirmDeadline: new Date(e.confirmDeadline).toISOString(), token: e.token }));
      return row("commit", e.state === "rolled-back" ? e.message : undefined);
    case "verify":
      if (e.state === "done") return row("verify", e.evidence.join(" | "));
      return row("verify", e.state === "rolled-back" ? e.message : undefined);
    case "confirm":
    case "transaction":
      return row(e.step, e.state === "failed" ? e.message : undefined);
    case "mesh":
      return row("mesh", e.state === "started" ? undefined : e.message);
    case "keys":
      return row("keys", e.message);
    case "rotate":
      return row(`rotate ${e.rotateStep}`, e.message);
    case "rotate psk-master":
      return row("rotate psk-master", e.message);
    case "other":
      return e.row;
  }
}

/**
 * A store row as a typed entry. Never throws: a row of an unknown shape (or one written by serve) comes back as
 * `{step: "other"}`, and a commit row whose deadline cannot be read as one with `confirmDeadline: NaN` is also
 * "other", so recovery never acts on a deadline it could not read.
 */
export function decodeEntry(row: JournalEntry): ApplyJournalEntry {
  const phase = /^rotate (stage|commit|verify|confirm)$/.exec(row.step)?.[1];
  if (phase) {
    const e = decodeEntry({ ...row, step: phase });
    return e.step === "other" ? { ...e, row } : { ...e, scope: "rotate" };
  }
  const at = Date.parse(row.at);
  const base = { at, run: row.run, target: row.target };
  const other = (): ApplyJournalEntry => ({ ...base, step: "other", state: row.state, row });
  const msg = row.detail ?? "";
  switch (row.step) {
    case "stage":
      if (row.state === "started") return { ...base, step: "stage", state: "started" };
      if (row.state === "done") return { ...base, step: "stage", state: "done", unchanged: row.detail === "no change" };
      if (row.state === "rolled-back") return { ...base, step: "stage", state: "rolled-back", message: msg };
      return other();
    case "commit":
      if (row.state === "started") {
        const c = readCommitData(row);
        return c ? { ...base, step: "commit", state: "started", ...c } : other();
      }
      if (row.state === "done") return { ...base, step: "commit", state: "done" };
      if (row.state === "rolled-back") return { ...base, step: "commit", state: "rolled-back", message: msg };
      return other();
    case "verify":
      if (row.state === "started") return { ...base, step: "verify", state: "started" };
      if (row.state === "done") return { ...base, step: "verify", state: "done", evidence: msg ? msg.split(" | ") : [] };
      if (row.state === "rolled-back") return { ...base, step: "verify", state: "rolled-back", message: msg };
      return other();
    case "confirm":
      return row.state === "done" ? { ...base, step: "confirm", state: "done" } : other();
    case "transaction":
      return row.state === "failed" ? { ...base, step: "transaction", state: "failed", message: msg } : other();
    case "mesh":
      if (row.state === "started") return { ...base, step: "mesh", state: "started" };
      if (row.state === "done" || row.state === "failed") return { ...base, step: "mesh", state: row.state, message: msg };
      return other();
    case "keys":
      return row.state === "done" ? { ...base, step: "keys", state: "done", keys: row.target.split(" "), message: msg } : other();
    case "rotate install-next-key":
    case "rotate retire-old-key":
      return {
        ...base,
        step: "rotate",
        rotateStep: row.step.slice(7) as RotateStep,
        state: row.state,
        ...(row.detail !== undefined ? { message: row.detail } : {}),
      };
    case "rotate psk-master":
      return row.state === "done"
        ? { ...base, step: "rotate psk-master", state: "done", ...(row.detail !== undefined ? { message: row.detail } : {}) }
        : other();
    default:
      return other();
  }
}

/** The deadline and token of a commit row: this version's JSON, or an older version's `confirm deadline <ISO>`. */
function readCommitData(row: JournalEntry): { confirmDeadline: number; token: string } | undefined {
  const d = row.detail ?? "";
  let deadline: number;
  let token: string;
  if (d.startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(d);
    } catch {
      return undefined;
    }
    const c = CommitData.safeParse(parsed);
    if (!c.success) return undefined;
    deadline = Date.parse(c.data.confirmDeadline);
    token = c.data.token;
  } else if (d.startsWith(LEGACY_DEADLINE)) {
    // Older rows: the deadline in prose, and the token implied by the run and the target.
    deadline = Date.parse(d.slice(LEGACY_DEADLINE.length).trim());
    token = commitToken(row.run, row.target);
  } else return undefined;
  return Number.isFinite(deadline) ? { confirmDeadline: deadline, token } : undefined;
}

export function decodeJournal(rows: readonly JournalEntry[]): ApplyJournalEntry[] {
  return rows.map(decodeEntry);
}

/** Where entries go: the state store, or anything that appends and reads rows the same way (tests). */
export interface JournalStore {
  append(e: JournalEntry): Promise<void>;
  journal(): Promise<JournalEntry[]>;
}

/** Writes typed entries for one run, stamped by the injected clock. */
export class JournalWriter {
  constructor(
    readonly store: JournalStore,
    readonly run: string,
    readonly clock: Clock,
  ) {}

  /** The entry as it will be stored (time and run filled in). */
  entry(d: JournalDraft): ApplyJournalEntry {
    return { ...d, at: this.clock.now(), run: this.run } as ApplyJournalEntry;
  }

  async write(d: JournalDraft): Promise<ApplyJournalEntry> {
    const e = this.entry(d);
    await this.store.append(encodeEntry(e));
    return e;
  }

  /** An entry under another run's ID (recovery closes a dead run's commit under that run). */
  async writeFor(run: string, d: JournalDraft): Promise<void> {
    await this.store.append(encodeEntry({ ...d, at: this.clock.now(), run } as ApplyJournalEntry));
  }
}
