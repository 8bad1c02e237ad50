/**
 * ESP transforms the planner and the MTU calculator know, with the sizes that drive the overhead arithmetic
 * (RFC 4303 §2: SPI 4 + sequence 4 + IV + encrypted(payload + padding + pad-length 1 + next-header 1) + ICV).
 *
 * - AES-GCM-16 (RFC 4106): 8-byte IV, 16-byte ICV, padding to 4 bytes.
 * - ChaCha20-Poly1305 (RFC 7634): 8-byte IV, 16-byte ICV, padding to 4 bytes.
 * - AES-CBC (RFC 3602): 16-byte IV, padding to the 16-byte block; ICV from the HMAC:
 *   HMAC-SHA1-96 12 bytes (RFC 2404), HMAC-SHA2-256-128 16, -384-192 24, -512-256 32 (RFC 4868).
 */
export type EspCipherId =
  | "aes-gcm-128"
  | "aes-gcm-256"
  | "chacha20-poly1305"
  | "aes-cbc-128-sha1"
  | "aes-cbc-128-sha256"
  | "aes-cbc-256-sha256"
  | "aes-cbc-256-sha384"
  | "aes-cbc-256-sha512";

export interface EspCipher {
  id: EspCipherId;
  label: string;
  aead: boolean;
  /** The offload family a NIC profile names: `aes-gcm`, `aes-cbc-hmac` or `chacha20-poly1305`. */
  family: "aes-gcm" | "aes-cbc-hmac" | "chacha20-poly1305";
  keyBits: number;
  ivBytes: number;
  icvBytes: number;
  /** The encrypted part (payload + padding + 2 trailer bytes) is a multiple of this. */
  padAlign: number;
  /** strongSwan ESP proposal keyword (swanctl.conf `esp_proposals`). */
  strongswan: string;
  /** Other names accepted on the command line and in inventories. */
  aliases: readonly string[];
  /** Kernel crypto API names that /proc/crypto must list for host xfrm to run this transform. */
  kernelAlgorithms: readonly string[];
}

const table: readonly EspCipher[] = [
  {
    id: "aes-gcm-128",
    label: "AES-GCM-16 128-bit",
    aead: true,
    family: "aes-gcm",
    keyBits: 128,
    ivBytes: 8,
    icvBytes: 16,
    padAlign: 4,
    strongswan: "aes128gcm16",
    aliases: ["aes128gcm16", "aes128gcm128"],
    kernelAlgorithms: ["rfc4106(gcm(aes))"],
  },
  {
    id: "aes-gcm-256",
    label: "AES-GCM-16 256-bit",
    aead: true,
    family: "aes-gcm",
    keyBits: 256,
    ivBytes: 8,
    icvBytes: 16,
    padAlign: 4,
    strongswan: "aes256gcm16",
    aliases: ["aes256gcm16", "aes256gcm128"],
    kernelAlgorithms: ["rfc4106(gcm(aes))"],
  },
  {
    id: "chacha20-poly1305",
    label: "ChaCha20-Poly1305",
    aead: true,
    family: "chacha20-poly1305",
    keyBits: 256,
    ivBytes: 8,
    icvBytes: 16,
    padAlign: 4,
    strongswan: "chacha20poly1305",
    aliases: ["chacha20poly1305"],
    kernelAlgorithms: ["rfc7539esp(chacha20,poly1305)"],
  },
  {
    id: "aes-cbc-128-sha1",
    label: "AES-CBC 128-bit + HMAC-SHA1-96",
    aead: false,
    family: "aes-cbc-hmac",
    keyBits: 128,
    ivBytes: 16,
    icvBytes: 12,
    padAlign: 16,
    strongswan: "aes128-sha1",
    aliases: ["aes128-sha1", "aes128-sha"],
    kernelAlgorithms: ["cbc(aes)", "hmac(sha1)"],
  },
  {
    id: "aes-cbc-128-sha256",
    label: "AES-CBC 128-bit + HMAC-SHA2-256-128",
    aead: false,
    family: "aes-cbc-hmac",
    keyBits: 128,
    ivBytes: 16,
    icvBytes: 16,
    padAlign: 16,
    strongswan: "aes128-sha256",
    aliases: ["aes128-sha256"],
    kernelAlgorithms: ["cbc(aes)", "hmac(sha256)"],
  },
  {
    id: "aes-cbc-256-sha256",
    label: "AES-CBC 256-bit + HMAC-SHA2-256-128",
    aead: false,
    family: "aes-cbc-hmac",
    keyBits: 256,
    ivBytes: 16,
    icvBytes: 16,
    padAlign: 16,
    strongswan: "aes256-sha256",
    aliases: ["aes256-sha256"],
    kernelAlgorithms: ["cbc(aes)", "hmac(sha256)"],
  },
  {
    id: "aes-cbc-256-sha384",
    label: "AES-CBC 256-bit + HMAC-SHA2-384-192",
    aead: false,
    family: "aes-cbc-hmac",
    keyBits: 256,
    ivBytes: 16,
    icvBytes: 24,
    padAlign: 16,
    strongswan: "aes256-sha384",
    aliases: ["aes256-sha384"],
    kernelAlgorithms: ["cbc(aes)", "hmac(sha384)"],
  },
  {
    id: "aes-cbc-256-sha512",
    label: "AES-CBC 256-bit + HMAC-SHA2-512-256",
    aead: false,
    family: "aes-cbc-hmac",
    keyBits: 256,
    ivBytes: 16,
    icvBytes: 32,
    padAlign: 16,
    strongswan: "aes256-sha512",
    aliases: ["aes256-sha512"],
    kernelAlgorithms: ["cbc(aes)", "hmac(sha512)"],
  },
];

export const ESP_CIPHER_IDS: readonly EspCipherId[] = table.map((c) => c.id);

const byName = new Map<string, EspCipher>();
for (const c of table) {
  byName.set(c.id, c);
  for (const a of c.aliases) byName.set(a, c);
}

export function espCipher(id: EspCipherId): EspCipher {
  const c = byName.get(id);
  if (!c) throw new Error(`unknown ESP cipher id ${id}`);
  return c;
}

/** Resolve a cipher id or strongSwan alias (case-insensitive); undefined if unknown. */
export function findEspCipher(name: string): EspCipher | undefined {
  return byName.get(name.trim().toLowerCase());
}

export function espCipherNames(): string[] {
  return [...byName.keys()];
}
