/** `/proc/net/xfrm_stat` -> counter name -> value (e.g. XfrmInNoStates: 0). */
export function parseXfrmStat(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^(Xfrm\w+)\s+(\d+)\s*$/.exec(line.trim());
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}
