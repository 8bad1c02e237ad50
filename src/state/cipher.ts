import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { LinkcryptError } from "../errors.js";

/**
 * Secrets at rest: AES-256-GCM with a fresh 96-bit nonce per value, the value's name as associated data (a sealed
 * value moved under another name does not open). The 32-byte key comes from the state key reference: 64 hex
 * characters are used as they are; any other text of at least 32 characters goes through HKDF-SHA256.
 * Sealed text: `v1:` + base64(nonce | tag | ciphertext).
 */
export class StateKeyError extends LinkcryptError {
  constructor(message: string) {
    super("E_STATE_KEY", message);
  }
}

export const KEY_CHECK_PLAIN = "linkcrypt state key check";

export function deriveStateKey(material: string, ref: string): Buffer {
  const t = material.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, "hex");
  if (t.length < 32)
    throw new StateKeyError(`the state key ${ref} is too short: give at least 32 characters (64 hex characters for a raw 256-bit key)`);
  return Buffer.from(hkdfSync("sha256", Buffer.from(t, "utf8"), Buffer.from("linkcrypt-state"), Buffer.from("aes-256-gcm v1"), 32));
}

export function seal(key: Buffer, name: string, plain: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", key, iv);
  c.setAAD(Buffer.from(name, "utf8"));
  const ct = Buffer.concat([c.update(plain, "utf8"), c.final()]);
  return `v1:${Buffer.concat([iv, c.getAuthTag(), ct]).toString("base64")}`;
}

/** The plain text, or undefined when the key is not the one the value was sealed with (or the value is damaged). */
export function unseal(key: Buffer, name: string, sealed: string): string | undefined {
  if (!sealed.startsWith("v1:")) return undefined;
  const raw = Buffer.from(sealed.slice(3), "base64");
  if (raw.length < 28) return undefined;
  try {
    const d = createDecipheriv("aes-256-gcm", key, raw.subarray(0, 12));
    d.setAAD(Buffer.from(name, "utf8"));
    d.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString("utf8");
  } catch {
    return undefined;
  }
}
