/**
 * IKEv2 proposal parsing for policy checks. A proposal is a strongSwan keyword string such as
 * `aes256gcm16-prfsha384-ecp384`: encryption, optional integrity, PRF and Diffie-Hellman transforms joined by "-".
 */
export interface DhGroup {
  keyword: string;
  group: number;
  /** Rough symmetric-equivalent strength in bits (NIST SP 800-57 Pt 1 Table 2). */
  strengthBits: number;
}

/** IANA IKEv2 Transform Type 4 numbers with strongSwan keywords. */
export const DH_GROUPS: readonly DhGroup[] = [
  { keyword: "modp768", group: 1, strengthBits: 56 },
  { keyword: "modp1024", group: 2, strengthBits: 80 },
  { keyword: "modp1536", group: 5, strengthBits: 96 },
  { keyword: "modp2048", group: 14, strengthBits: 112 },
  { keyword: "modp3072", group: 15, strengthBits: 128 },
  { keyword: "modp4096", group: 16, strengthBits: 152 },
  { keyword: "modp6144", group: 17, strengthBits: 176 },
  { keyword: "modp8192", group: 18, strengthBits: 200 },
  { keyword: "ecp256", group: 19, strengthBits: 128 },
  { keyword: "ecp384", group: 20, strengthBits: 192 },
  { keyword: "ecp521", group: 21, strengthBits: 256 },
  { keyword: "modp1024s160", group: 22, strengthBits: 80 },
  { keyword: "modp2048s224", group: 23, strengthBits: 112 },
  { keyword: "modp2048s256", group: 24, strengthBits: 112 },
  { keyword: "ecp224", group: 26, strengthBits: 112 },
  { keyword: "ecp256bp", group: 28, strengthBits: 128 },
  { keyword: "ecp384bp", group: 29, strengthBits: 192 },
  { keyword: "ecp512bp", group: 30, strengthBits: 256 },
  { keyword: "curve25519", group: 31, strengthBits: 128 },
  { keyword: "curve448", group: 32, strengthBits: 224 },
];

const dhAliases: Record<string, string> = { x25519: "curve25519", x448: "curve448" };

export function findDhGroup(keyword: string): DhGroup | undefined {
  const k = dhAliases[keyword] ?? keyword;
  return DH_GROUPS.find((g) => g.keyword === k);
}

export interface IkeProposal {
  text: string;
  encryption: string[];
  integrity: string[];
  prf: string[];
  dh: string[];
}

const ENCR = /^(aes(128|192|256)(gcm(8|12|16|64|96|128)?|ccm\d*)?|chacha20poly1305|3des|des|blowfish\d*|cast128|null|camellia\d+)$/;
const INTEG = /^(sha1|sha|sha256|sha384|sha512|md5|aesxcbc|aescmac|sha256_96)$/;

/** Splits a strongSwan proposal into its transforms; unknown tokens are returned in `unknown`. */
export function parseIkeProposal(text: string): IkeProposal & { unknown: string[] } {
  const p = {
    text,
    encryption: [] as string[],
    integrity: [] as string[],
    prf: [] as string[],
    dh: [] as string[],
    unknown: [] as string[],
  };
  for (const tok of text.split("-")) {
    if (tok.startsWith("prf")) p.prf.push(tok);
    else if (findDhGroup(tok)) p.dh.push(dhAliases[tok] ?? tok);
    else if (ENCR.test(tok)) p.encryption.push(tok);
    else if (INTEG.test(tok)) p.integrity.push(tok);
    else p.unknown.push(tok);
  }
  return p;
}
