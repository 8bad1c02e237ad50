import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LinkcryptError } from "../errors.js";

/**
 * Host certificates from the inventory CA, issued on the controller with strongSwan's `pki` tool: an ECDSA P-384
 * key and a certificate whose subject and subjectAltName are the host's name (its IKE identity). Keys are written only
 * to a private temporary directory that is removed afterwards.
 */
const PKI_CONF = "pki {\n  load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey\n}\n"; // quiet: no TPM plugin probing

function pki(dir: string, args: string[], input?: Buffer): Buffer {
  try {
    return execFileSync("pki", args, {
      env: { ...process.env, STRONGSWAN_CONF: join(dir, "pki.conf") },
      ...(input ? { input } : {}),
      stdio: ["pipe", "pipe", "pipe"],
    });
  } catch (e) {
    throw new LinkcryptError(
      "E_PKI",
      `pki ${args[0]} failed: ${(e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message} (is strongswan-pki installed?)`,
      { cause: e },
    );
  }
}

function workdir(): string {
  const d = mkdtempSync(join(tmpdir(), "linkcrypt-pki-"));
  writeFileSync(join(d, "pki.conf"), PKI_CONF);
  return d;
}

/** A new self-signed CA (for labs and first set-up). */
export function createCa(name: string, lifetimeDays = 3650): { certPem: string; keyPem: string } {
  const d = workdir();
  try {
    const key = pki(d, ["--gen", "--type", "ecdsa", "--size", "384", "--outform", "pem"]);
    writeFileSync(join(d, "ca.key"), key, { mode: 0o600 });
    const cert = pki(d, [
      "--self",
      "--ca",
      "--lifetime",
      String(lifetimeDays),
      "--in",
      join(d, "ca.key"),
      "--type",
      "ecdsa",
      "--dn",
      `CN=${name}`,
      "--outform",
      "pem",
    ]);
    return { certPem: cert.toString(), keyPem: key.toString() };
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}

export function issueHostCert(
  ca: { certPem: string; keyPem: string },
  host: string,
  lifetimeDays = 365,
): { certPem: string; keyPem: string } {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(host)) throw new LinkcryptError("E_PKI", `host name "${host}" cannot be a certificate identity`);
  const d = workdir();
  try {
    writeFileSync(join(d, "ca.crt"), ca.certPem);
    writeFileSync(join(d, "ca.key"), ca.keyPem, { mode: 0o600 });
    const key = pki(d, ["--gen", "--type", "ecdsa", "--size", "384", "--outform", "pem"]);
    writeFileSync(join(d, "host.key"), key, { mode: 0o600 });
    const pub = pki(d, ["--pub", "--in", join(d, "host.key"), "--type", "ecdsa"]);
    const cert = pki(
      d,
      [
        "--issue",
        "--lifetime",
        String(lifetimeDays),
        "--cacert",
        join(d, "ca.crt"),
        "--cakey",
        join(d, "ca.key"),
        "--dn",
        `CN=${host}`,
        "--san",
        host,
        "--outform",
        "pem",
      ],
      pub,
    );
    return { certPem: cert.toString(), keyPem: readFileSync(join(d, "host.key"), "utf8") };
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}
