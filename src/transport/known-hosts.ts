import { createHash, createHmac } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { readBounded } from "../util/read-bounded.js";

/**
 * OpenSSH known_hosts handling: plain and hashed (`|1|salt|hash`) host patterns, `[host]:port` for non-22 ports,
 * comma-separated patterns, comments and `@revoked` markers (a revoked key is never accepted).
 */
export interface HostKeyCheck {
  status: "match" | "unknown" | "mismatch" | "revoked";
  fingerprint: string;
  keyType: string;
  /** Fingerprints pinned for this host when the presented key does not match. */
  expected: string[];
}

export function hostPattern(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** OpenSSH-style `SHA256:<base64 without padding>` fingerprint of a public key blob. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The key type named at the start of an SSH public key blob (uint32 length + name). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return "unknown";
  const n = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + n).toString("ascii");
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith("|1|")) {
    const [, , salt, hash] = pattern.split("|");
    if (!salt || !hash) return false;
    return createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64") === hash;
  }
  return pattern.split(",").some((p) => p === name);
}

export function checkHostKey(file: string, host: string, port: number, keyBlob: Buffer): HostKeyCheck {
  const name = hostPattern(host, port);
  const fp = fingerprint(keyBlob);
  const keyType = keyTypeOf(keyBlob);
  const presented = keyBlob.toString("base64");
  const expected: string[] = [];
  let matched = false;
  const text = existsSync(file) ? readBounded(file) : "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    const marker = fields[0]!.startsWith("@") ? fields.shift() : undefined;
    const [patterns, type, key] = fields;
    if (!patterns || !type || !key || marker === "@cert-authority") continue;
    if (!patternMatches(patterns, name)) continue;
    if (marker === "@revoked") {
      if (key === presented) return { status: "revoked", fingerprint: fp, keyType, expected: [] };
      continue;
    }
    if (key === presented) matched = true;
    else if (type === keyType) expected.push(fingerprint(Buffer.from(key, "base64")));
  }
  if (matched) return { status: "match", fingerprint: fp, keyType, expected: [] };
  return { status: expected.length > 0 ? "mismatch" : "unknown", fingerprint: fp, keyType, expected };
}

/** Record a newly accepted key (only on explicit request). */
export function addHostKey(file: string, host: string, port: number, keyBlob: Buffer): void {
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, `${hostPattern(host, port)} ${keyTypeOf(keyBlob)} ${keyBlob.toString("base64")}\n`, { mode: 0o600 });
}
