import type { EspCipher } from "../crypto/esp-ciphers.js";
import { macsecOverheadBytes } from "../crypto/macsec-suites.js";

/**
 * An encapsulation stack, listed from the innermost layer outwards, and the arithmetic to size packets through it.
 *
 * Example: host ESP in transport mode over a MACsec hop:
 *   `[{kind:"esp", cipher, mode:"transport", family:4, natT:false}, {kind:"macsec", sci:true}]`
 *
 * Sizes are IP packet sizes in bytes. A layer's `outer(n)` is what an n-byte packet becomes; `maxInner(m)` is the
 * largest n with `outer(n) <= m`. Every layer's size function is non-decreasing, so inverting the stack one layer at a
 * time from the outside in gives the exact largest inner packet.
 */
export type Family = 4 | 6;
export type EspMode = "transport" | "tunnel";

export type Layer =
  | { kind: "esp"; cipher: EspCipher; mode: EspMode; family: Family; natT: boolean }
  | { kind: "macsec"; sci: boolean }
  | { kind: "vxlan"; family: Family }
  | { kind: "fixed"; label: string; bytes: number };

export const IP_HEADER_BYTES: Record<Family, number> = { 4: 20, 6: 40 };
export const UDP_HEADER_BYTES = 8;
export const TCP_HEADER_BYTES = 20;
/** ESP header: SPI (4) + sequence number (4). ESN adds nothing on the wire. */
export const ESP_HEADER_BYTES = 8;
/** ESP trailer: pad length (1) + next header (1). */
export const ESP_TRAILER_BYTES = 2;
/** VXLAN (RFC 7348): outer IP + UDP 8 + VXLAN 8 + the inner Ethernet header 14. */
export const VXLAN_FIXED_BYTES = UDP_HEADER_BYTES + 8 + 14;

/** One layer's share of a packet's growth, itemised for `explain`. */
export interface LayerCost {
  layer: string;
  bytes: number;
  items: { what: string; bytes: number }[];
}

function roundUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

function espParts(l: Extract<Layer, { kind: "esp" }>, inner: number): LayerCost {
  const iph = IP_HEADER_BYTES[l.family];
  // Transport mode keeps the original IP header in front and encrypts only what follows it.
  const protectedBytes = l.mode === "transport" ? inner - iph : inner;
  const encrypted = roundUp(protectedBytes + ESP_TRAILER_BYTES, l.cipher.padAlign);
  const items = [
    ...(l.mode === "tunnel" ? [{ what: `outer IPv${l.family} header`, bytes: iph }] : []),
    ...(l.natT ? [{ what: "NAT-T UDP header", bytes: UDP_HEADER_BYTES }] : []),
    { what: "ESP SPI + sequence", bytes: ESP_HEADER_BYTES },
    { what: "IV", bytes: l.cipher.ivBytes },
    { what: `padding (to ${l.cipher.padAlign} bytes)`, bytes: encrypted - protectedBytes - ESP_TRAILER_BYTES },
    { what: "pad length + next header", bytes: ESP_TRAILER_BYTES },
    { what: "ICV", bytes: l.cipher.icvBytes },
  ];
  return { layer: `ESP ${l.mode} (${l.cipher.id}${l.natT ? ", NAT-T" : ""})`, bytes: sum(items), items };
}

function layerCost(l: Layer, inner: number): LayerCost {
  switch (l.kind) {
    case "esp":
      return espParts(l, inner);
    case "macsec": {
      const items = [
        { what: l.sci ? "SecTAG with SCI" : "SecTAG without SCI", bytes: l.sci ? 16 : 8 },
        { what: "ICV", bytes: 16 },
      ];
      return { layer: `MACsec (${l.sci ? "SCI" : "no SCI"})`, bytes: macsecOverheadBytes(l.sci), items };
    }
    case "vxlan": {
      const items = [
        { what: `outer IPv${l.family} header`, bytes: IP_HEADER_BYTES[l.family] },
        { what: "UDP header", bytes: UDP_HEADER_BYTES },
        { what: "VXLAN header", bytes: 8 },
        { what: "inner Ethernet header", bytes: 14 },
      ];
      return { layer: `VXLAN (IPv${l.family})`, bytes: sum(items), items };
    }
    case "fixed":
      return { layer: l.label, bytes: l.bytes, items: [{ what: l.label, bytes: l.bytes }] };
  }
}

function layerMaxInner(l: Layer, outer: number): number {
  switch (l.kind) {
    case "esp": {
      const iph = IP_HEADER_BYTES[l.family];
      const fixed =
        (l.mode === "tunnel" ? iph : 0) + (l.natT ? UDP_HEADER_BYTES : 0) + ESP_HEADER_BYTES + l.cipher.ivBytes + l.cipher.icvBytes;
      // transport: outer = iph + fixed + enc; tunnel: outer = fixed + enc (fixed already holds the outer header)
      const room = outer - fixed - (l.mode === "transport" ? iph : 0);
      const encrypted = Math.floor(room / l.cipher.padAlign) * l.cipher.padAlign;
      const protectedBytes = encrypted - ESP_TRAILER_BYTES;
      return l.mode === "transport" ? protectedBytes + iph : protectedBytes;
    }
    default:
      return outer - layerCost(l, 0).bytes;
  }
}

function sum(items: { bytes: number }[]): number {
  return items.reduce((a, i) => a + i.bytes, 0);
}

/** The size an `inner`-byte packet has after every layer, and what each layer added. */
export function outerSize(stack: readonly Layer[], inner: number): { outer: number; costs: LayerCost[] } {
  let size = inner;
  const costs: LayerCost[] = [];
  for (const l of stack) {
    const c = layerCost(l, size);
    costs.push(c);
    size += c.bytes;
  }
  return { outer: size, costs };
}

/** The largest inner packet that fits through `stack` onto a path that carries `pathMtu`-byte packets. */
export function maxInnerSize(stack: readonly Layer[], pathMtu: number): number {
  let room = pathMtu;
  for (let i = stack.length - 1; i >= 0; i--) room = layerMaxInner(stack[i]!, room);
  return room;
}

export interface Budget {
  pathMtu: number;
  /** Largest inner IP packet, header included, that fits. 0 when nothing fits. */
  maxInnerMtu: number;
  /** Outer minus inner for a packet of `maxInnerMtu` bytes. */
  overheadBytes: number;
  /** The per-layer breakdown of that overhead. */
  layers: LayerCost[];
  /** TCP MSS to clamp to so that a full segment fits (IP and TCP headers without options). */
  mssClamp: number;
}

/** Overhead and MTU budget of a stack over a path; `family` sets the inner IP header for the MSS clamp. */
export function budget(stack: readonly Layer[], pathMtu: number, family: Family): Budget {
  const maxInner = Math.max(0, maxInnerSize(stack, pathMtu));
  const { outer, costs } = outerSize(stack, maxInner);
  return {
    pathMtu,
    maxInnerMtu: maxInner,
    overheadBytes: outer - maxInner,
    layers: costs,
    mssClamp: Math.max(0, maxInner - IP_HEADER_BYTES[family] - TCP_HEADER_BYTES),
  };
}
