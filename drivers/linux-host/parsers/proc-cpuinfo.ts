/** `cat /proc/cpuinfo` -> the flags of the first CPU (x86 "flags", arm64 "Features"). */
export function parseCpuinfo(text: string): string[] {
  const m = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(text);
  return m ? m[1]!.trim().split(/\s+/).sort() : [];
}
