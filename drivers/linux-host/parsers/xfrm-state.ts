/** `ip xfrm state` -> the set of SPIs the kernel holds, as VICI prints them (8 lower-case hex digits, no 0x). */
export function parseXfrmStateSpis(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(/\bproto (?:esp|ah) spi 0x([0-9a-fA-F]+)/g)) out.add(m[1]!.toLowerCase().padStart(8, "0"));
  return out;
}
