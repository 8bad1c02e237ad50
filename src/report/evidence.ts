import type { LinkSecurityState } from "../../drivers/contract.js";
import type { PairFinding } from "../mesh/check-pairs.js";
import type { HostSaTable } from "../mesh/sa-table.js";

/**
 * Structured positive evidence, recorded by `verify` next to its evidence sentences so that a report can show, for
 * each secured link end and each mesh pair, what proves it: MKA peer and key number, L1 status and key age, SPIs,
 * last traffic and cipher. Pure: verify hands in what the drivers and VICI returned.
 */
export interface EndEvidence {
  device: string;
  port: string;
  status?: LinkSecurityState["status"];
  cipher?: string;
  keyAgeSeconds?: number;
  /** MKA key number (MACsec) or key generation (L1), where the device reports one. */
  keyNumber?: string;
  /** MKA peer (member identifier or SCI/MAC), where the device reports one. */
  mkaPeer?: string;
  detail?: string;
  counters?: Record<string, number | string>;
  /** Set when the device could not be read. */
  error?: string;
  observedAt?: string;
}

export interface PairSaEvidence {
  /** The host the SA was read on (the pair's first host). */
  host: string;
  spis?: { aIn: string; aOut: string };
  /** Seconds since the last packet in either direction; undefined if none has passed yet. */
  lastTrafficSeconds?: number;
  bytes?: { in: number; out: number };
  /** The negotiated ESP algorithm as charon reports it, where it does. */
  cipher?: string;
  /** charon runs kernel-libipsec: ESP in user space, so there is no kernel or NIC offload. */
  userspaceEsp?: boolean;
}

const KEY_NUMBER = ["keyNumber", "keyNum", "keyGeneration", "latestKeyNumber", "latest-kn", "kn"];
const MKA_PEER = ["mkaPeer", "keyMsgId", "peer", "peerSci", "peer-sci", "peerMemberId"];

const pick = (c: Record<string, number | string> | undefined, names: string[]): string | undefined => {
  for (const n of names) if (c && Object.hasOwn(c, n) && c[n] !== undefined && c[n] !== "") return String(c[n]);
  return undefined;
};

/** One link end: what its driver returned, or the error that kept it from answering. */
export function endEvidence(device: string, port: string, got: LinkSecurityState | { error: string }): EndEvidence {
  if ("error" in got) return { device, port, error: got.error };
  const keyNumber = pick(got.counters, KEY_NUMBER);
  const mkaPeer = pick(got.counters, MKA_PEER);
  return {
    device,
    port: got.port,
    status: got.status,
    detail: got.detail,
    observedAt: got.observedAt,
    ...(got.cipher ? { cipher: got.cipher } : {}),
    ...(got.keyAgeSeconds !== undefined && Number.isFinite(got.keyAgeSeconds) ? { keyAgeSeconds: got.keyAgeSeconds } : {}),
    ...(keyNumber !== undefined ? { keyNumber } : {}),
    ...(mkaPeer !== undefined ? { mkaPeer } : {}),
    ...(got.counters && Object.keys(got.counters).length ? { counters: got.counters } : {}),
  };
}

/** One mesh pair: its symmetric SPIs (from the check), and traffic and cipher from the first host's CHILD_SA. */
export function pairEvidence(f: PairFinding, tables: readonly HostSaTable[], connOfPeer: string): PairSaEvidence {
  const t = tables.find((x) => x.host === f.a);
  const row = t?.children.find((c) => c.conn === connOfPeer && (!f.spis || c.spiIn === f.spis.aIn));
  const uses = row ? [row.useIn, row.useOut].filter((u): u is number => u !== undefined && Number.isFinite(u)) : [];
  return {
    host: f.a,
    ...(f.spis ? { spis: f.spis } : {}),
    ...(uses.length ? { lastTrafficSeconds: Math.min(...uses) } : {}),
    ...(row ? { bytes: { in: row.bytesIn, out: row.bytesOut } } : {}),
    ...(row?.encrAlg ? { cipher: `${row.encrAlg}${row.encrKeysize ? `-${row.encrKeysize}` : ""}` } : {}),
    ...(t ? { userspaceEsp: t.plugins.includes("kernel-libipsec") } : {}),
  };
}
