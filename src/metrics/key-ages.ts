import { statSync } from "node:fs";
import type { Inventory } from "../model/inventory-schema.js";
import type { Plan } from "../planner/plan-types.js";
import type { JournalEntry } from "../state/store.js";

/**
 * Ages of the keys linkcrypt itself keeps or rotates, for `linkcrypt_key_age_seconds` (both `serve`'s /metrics and
 * the one-shot `metrics` call this):
 * - each MACsec link's CAK: when it was stored in the state store (`kind="macsec-cak"`);
 * - each PSK mesh's master (`kind="mesh-psk-master"`): a `state:` master's store time, a `file:` master's mtime, and
 *   otherwise (env:, secrets:) the journal's last `rotate psk-master` of that mesh, when there is one.
 * Encryptor and MACsec ages as the devices report them come from verify (see collectSamples).
 * `createdAtMs` rather than an age, so a long-running serve can age it at each scrape.
 */
export interface KeyStamp {
  key: string;
  kind: "macsec-cak" | "mesh-psk-master";
  createdAtMs: number;
  /** Where the time comes from: state, file or journal. */
  source: "state" | "file" | "journal";
}

/** What key ages need from a state store: the clear creation time beside a sealed secret, and the journal. */
export interface KeyAgeStore {
  secretCreatedAt(name: string): Promise<string | undefined>;
  journal(): Promise<JournalEntry[]>;
}

const defaultMtime = (p: string) => {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return undefined;
  }
};

const parseTime = (s: string | undefined) => (s === undefined || !Number.isFinite(Date.parse(s)) ? undefined : Date.parse(s));

/** What needs no state store: the mtime of each PSK mesh's `file:` master. */
export function fileKeyStamps(plan: Plan, inv: Inventory, mtime: (path: string) => number | undefined = defaultMtime): KeyStamp[] {
  const out: KeyStamp[] = [];
  for (const m of plan.meshes.filter((x) => x.auth === "psk")) {
    const ref = inv.meshes.find((x) => x.name === m.name)?.pskMaster;
    const at = ref?.startsWith("file:") ? mtime(ref.slice(5)) : undefined;
    if (at !== undefined) out.push({ key: m.name, kind: "mesh-psk-master", createdAtMs: at, source: "file" });
  }
  return out;
}

export async function keyStamps(
  plan: Plan,
  inv: Inventory,
  store: KeyAgeStore | undefined,
  o: {
    /** The state store's name of a mesh's `state:` master (src/cli/mesh.ts's pskMasterSecretName). */
    pskMasterName: (mesh: string) => string;
    mtimeMs?: (path: string) => number | undefined;
  },
): Promise<KeyStamp[]> {
  const out: KeyStamp[] = [];
  if (store)
    for (const l of plan.links.filter((x) => x.method === "macsec")) {
      const at = parseTime(await store.secretCreatedAt(`macsec/${l.name}`));
      if (at !== undefined) out.push({ key: l.name, kind: "macsec-cak", createdAtMs: at, source: "state" });
    }
  const files = fileKeyStamps(plan, inv, o.mtimeMs);
  let journal: JournalEntry[] | undefined;
  for (const m of plan.meshes.filter((x) => x.auth === "psk")) {
    const ref = inv.meshes.find((x) => x.name === m.name)?.pskMaster;
    const file = files.find((f) => f.key === m.name);
    if (file) {
      out.push(file);
      continue;
    }
    if (!store) continue;
    let at = ref === "state:" ? parseTime(await store.secretCreatedAt(o.pskMasterName(m.name))) : undefined;
    let source: KeyStamp["source"] = "state";
    if (at === undefined) {
      // env: and secrets: masters (or a state: one without its time): the last rotation the journal shows.
      journal ??= await store.journal().catch(() => []);
      at = parseTime(journal.filter((e) => e.step === "rotate psk-master" && e.target === m.name && e.state === "done").at(-1)?.at);
      source = "journal";
    }
    if (at !== undefined) out.push({ key: m.name, kind: "mesh-psk-master", createdAtMs: at, source });
  }
  return out;
}

/** Stamps as ages at `nowMs`, for collectSamples. */
export function agesAt(stamps: readonly KeyStamp[], nowMs: number): { key: string; kind: string; seconds: number }[] {
  return stamps.map((s) => ({ key: s.key, kind: s.kind, seconds: Math.max(0, Math.round((nowMs - s.createdAtMs) / 1000)) }));
}
