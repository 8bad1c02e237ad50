/** `cat /proc/crypto` -> algorithm name -> driver names, in file order (blank-line separated records). */
export function parseProcCrypto(text: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const rec of text.split(/\n\s*\n/)) {
    const name = /^name\s*:\s*(.+)$/m.exec(rec)?.[1]?.trim();
    const driver = /^driver\s*:\s*(.+)$/m.exec(rec)?.[1]?.trim();
    if (!name) continue;
    (out[name] ??= []).push(driver ?? name);
  }
  return out;
}
