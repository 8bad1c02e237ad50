import * as errors from "../../../src/errors.js";

/**
 * The replay fixtures' format: one JSON file per driver and contract case (test/fixtures/replay/<driver>/<case>.json)
 * holding, in the order they were sent, every request the case made of the peer and the reply it got. A channel is
 * one transport object: an SSH connection (`lab-sw1`), a NETCONF session on it (`lab-sw1/netconf`), an SNMP session
 * (`lab-l1/snmp`). Requests are kept as text; secrets the suite hands the driver are replaced by `{{secret:NAME}}`,
 * so no key is ever written to a fixture.
 */
export type Kind = "exec" | "shell" | "subsystem" | "netconf" | "snmp.get" | "snmp.set" | "snmp.walk";

export interface RecordedError {
  /** The class in src/errors.ts (or "Error"). */
  name: string;
  message: string;
  /** Own enumerable fields of the error besides its message (code, device, operation, tag, ...). */
  fields: Record<string, unknown>;
}

export interface Exchange {
  channel: string;
  kind: Kind;
  /** What was sent: an XML message, a command line, a CLI script, or a JSON description of SNMP varbinds. */
  request: string;
  reply?: unknown;
  error?: RecordedError;
}

export interface Provenance {
  recordedAt: string;
  /** linkcrypt's commit (with "+dirty" for uncommitted changes) the recording was made from. */
  linkcrypt: string;
  node: string;
  hostKernel: string;
  peer: string;
  /** Debian packages of the peer and their versions (dpkg-query). */
  tools: Record<string, string>;
  /** The device profile and, for NETCONF peers, the YANG model revisions served. */
  profile: string;
  models?: string[];
}

export interface CaseTape {
  driver: string;
  case: string;
  title: string;
  provenance: Provenance;
  exchanges: Exchange[];
}

/** Secrets the suite gives drivers, by name; recorded as `{{secret:NAME}}` and restored on replay. */
export type Secrets = Record<string, string>;

export function redact(text: string, secrets: Secrets): string {
  let t = text;
  for (const [name, value] of Object.entries(secrets)) t = t.split(value).join(`{{secret:${name}}}`);
  return t;
}

export function unredact(text: string, secrets: Secrets): string {
  return text.replace(/\{\{secret:([\w-]+)\}\}/g, (m, name: string) => secrets[name] ?? m);
}

/** Values a driver makes up per run (commit tokens, CLI session names): matched by position, not by value. */
export const NONCE = /linkcrypt-[0-9a-f]{8}(?:-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?(?![\w-])/g;

/**
 * What differs between two honest runs and is not behaviour: NETCONF message-ids (per session counters), ISO
 * timestamps, and the lab account's name (`lct<pid>`).
 */
export function normalise(text: string): string {
  return text
    .replace(/message-id="[^"]*"/g, 'message-id="*"')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?/g, "<time>")
    .replace(/\blct\d+\b/g, "<lab-user>");
}

/** JSON with bigints (SNMP Counter64) kept as {"$bigint": "..."}. */
export function toJson(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? { $bigint: x.toString() } : x)));
}

export function fromJson<T>(v: unknown): T {
  return JSON.parse(JSON.stringify(v), (_k, x) =>
    x !== null && typeof x === "object" && typeof (x as { $bigint?: unknown }).$bigint === "string"
      ? BigInt((x as { $bigint: string }).$bigint)
      : x,
  ) as T;
}

export function recordError(e: unknown): RecordedError {
  const err = e instanceof Error ? e : new Error(String(e));
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(err)) if (k !== "cause" && k !== "stack" && k !== "message" && k !== "name") fields[k] = v;
  return { name: err.name, message: err.message, fields: toJson(fields) as Record<string, unknown> };
}

/** The recorded error as an instance of its class in src/errors.ts, so drivers' `instanceof` checks see the same. */
export function reviveError(r: RecordedError): Error {
  const cls = (errors as Record<string, unknown>)[r.name];
  const proto = typeof cls === "function" && cls.prototype instanceof Error ? (cls.prototype as Error) : Error.prototype;
  const e = Object.create(proto) as Error;
  Object.assign(e, fromJson<Record<string, unknown>>(r.fields), { name: r.name, message: r.message });
  Error.captureStackTrace?.(e, reviveError);
  return e;
}

/** A short line diff of two texts (XML split at tags), with a little context around the first difference. */
export function textDiff(expected: string, got: string, context = 3): string {
  const lines = (s: string) => s.replace(/></g, ">\n<").split("\n");
  const a = lines(expected);
  const b = lines(got);
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const from = Math.max(0, head - context);
  const out = [`@@ line ${head + 1} @@`];
  for (let i = from; i < head; i++) out.push(`  ${a[i]}`);
  for (let i = head; i < a.length - tail; i++) out.push(`- ${a[i]}`);
  for (let i = head; i < b.length - tail; i++) out.push(`+ ${b[i]}`);
  for (let i = a.length - tail; i < Math.min(a.length, a.length - tail + context); i++) out.push(`  ${a[i]}`);
  return out.join("\n");
}
