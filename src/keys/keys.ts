import { randomBytes } from "node:crypto";
import { macsecSuite, type MacsecSuiteId } from "../crypto/macsec-suites.js";

/**
 * Key material from the operating system's CSPRNG (node:crypto randomBytes), sized per use:
 * - MKA CAK: 16 bytes for 128-bit suites (AES-128-CMAC), 32 bytes for 256-bit suites (AES-256-CMAC);
 * - MKA CKN: 32 bytes (64 hex characters, the longest every vendor accepts);
 * - mesh PSK master: 32 bytes.
 * All returned as lower-case hex. Randomness is injectable for tests.
 */
export type Rng = (n: number) => Buffer;

export interface MacsecKey {
  ckn: string;
  cak: string;
  cryptoAlgorithm: "AES_128_CMAC" | "AES_256_CMAC";
}

export function generateMacsecKey(suite: MacsecSuiteId, rng: Rng = randomBytes): MacsecKey {
  const bits = macsecSuite(suite).keyBits;
  return {
    ckn: rng(32).toString("hex"),
    cak: rng(bits === 256 ? 32 : 16).toString("hex"),
    cryptoAlgorithm: bits === 256 ? "AES_256_CMAC" : "AES_128_CMAC",
  };
}

export function generateMasterSecret(rng: Rng = randomBytes): string {
  return rng(32).toString("hex");
}
