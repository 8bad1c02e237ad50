/**
 * Pure: `ip -s macsec show DEV` (iproute2 6.1) of one SecY: cipher suite, offload, the TX SC and its SAs, the RX SCs
 * (one per MKA peer: the peer's SCI) with their SAs and the receive counters.
 *
 * The key shown for an SA is its Key Identifier: the key server's Member Identifier (12 bytes) and the Key Number
 * (4 bytes, as wpa_supplicant stores it: little-endian on x86). The Key Number therefore comes from the last 8 hex
 * digits read little-endian.
 */
export interface MacsecSa {
  an: number;
  pn: number;
  on: boolean;
  keyId: string;
  keyNumber: number;
}

export interface MacsecSecy {
  cipher: string | undefined;
  offload: string | undefined;
  encrypt: boolean | undefined;
  txSci: string | undefined;
  encodingSa: number | undefined;
  txSas: MacsecSa[];
  rxScs: { sci: string; on: boolean; sas: MacsecSa[] }[];
  /** Sums over the RX SCs' and SAs' statistics (InPktsOK, InPktsInvalid, ...), and the TX SC's (OutPktsEncrypted, ...). */
  counters: Record<string, number>;
}

function keyNumber(ki: string): number {
  const kn = ki.slice(24, 32);
  if (kn.length !== 8) return NaN;
  return parseInt(kn.match(/../g)!.reverse().join(""), 16);
}

export function parseIpMacsecShow(text: string): MacsecSecy {
  const lines = text.split("\n");
  const s: MacsecSecy = {
    cipher: undefined,
    offload: undefined,
    encrypt: undefined,
    txSci: undefined,
    encodingSa: undefined,
    txSas: [],
    rxScs: [],
    counters: {},
  };
  let where: "tx" | "rx" | undefined;
  let pendingHeader: string[] | undefined;
  let afterSa = false; // a stats line after an SA line is the SA's own (already in its SC's): not summed
  const add = (names: string[], values: string[]) => {
    names.forEach((n, i) => {
      const v = Number(values[i]);
      if (Number.isFinite(v)) s.counters[n] = (s.counters[n] ?? 0) + v;
    });
  };
  for (const raw of lines) {
    const line = raw.trim();
    if (pendingHeader) {
      const vals = line.split(/\s+/);
      if (vals.length === pendingHeader.length && vals.every((v) => /^\d+$/.test(v))) add(pendingHeader, vals);
      pendingHeader = undefined;
      continue;
    }
    let m: RegExpExecArray | null;
    if ((m = /cipher suite: (\S+?),/.exec(line))) s.cipher = m[1];
    if ((m = /\bencrypt (on|off)\b/.exec(line))) s.encrypt = m[1] === "on";
    if ((m = /\bencodingsa (\d+)/.exec(line))) s.encodingSa = Number(m[1]);
    if ((m = /^offload: (\S+)/.exec(line))) s.offload = m[1];
    if ((m = /^TXSC: ([0-9a-f]+) on SA (\d+)/.exec(line))) {
      s.txSci = m[1];
      s.encodingSa ??= Number(m[2]);
      where = "tx";
      afterSa = false;
      continue;
    }
    if ((m = /^RXSC: ([0-9a-f]+), state (on|off)/.exec(line))) {
      s.rxScs.push({ sci: m[1]!, on: m[2] === "on", sas: [] });
      where = "rx";
      afterSa = false;
      continue;
    }
    if ((m = /^(\d+): PN (\d+), state (on|off), key ([0-9a-f]+)/.exec(line))) {
      const sa: MacsecSa = { an: Number(m[1]), pn: Number(m[2]), on: m[3] === "on", keyId: m[4]!, keyNumber: keyNumber(m[4]!) };
      if (where === "tx") s.txSas.push(sa);
      else if (where === "rx") s.rxScs.at(-1)?.sas.push(sa);
      afterSa = true;
      continue;
    }
    if ((m = /^stats: (.+)$/.exec(line))) {
      // a header line of counter names; the next line has the values (TX SC/SA: OutPkts*, RX SC/SA: InPkts*)
      if (!afterSa) pendingHeader = m[1]!.trim().split(/\s+/);
    }
  }
  return s;
}
