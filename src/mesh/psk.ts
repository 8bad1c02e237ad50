import { hkdfSync } from "node:crypto";

/**
 * Per-pair pre-shared keys derived from one master secret: HKDF-SHA256 (RFC 5869) with a fixed salt and the two
 * host identities, sorted, as the info. Both hosts of a pair derive the same key; no two pairs share one; the master
 * secret never leaves the controller. The key is 32 bytes, written as 64 hex characters.
 */
export const PSK_SALT = "linkcrypt mesh psk v1";
export const MIN_MASTER_BYTES = 32;

export function derivePairPsk(master: Buffer, a: string, b: string): string {
  if (master.length < MIN_MASTER_BYTES)
    throw new Error(`the mesh master secret must be at least ${MIN_MASTER_BYTES} random bytes (got ${master.length})`);
  if (a === b) throw new Error("a pair needs two different hosts");
  const [lo, hi] = a < b ? [a, b] : [b, a];
  return Buffer.from(hkdfSync("sha256", master, PSK_SALT, `${lo}\0${hi}`, 32)).toString("hex");
}
