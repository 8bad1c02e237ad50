/** `cat /proc/crypto` -> algorithm name -> driver names, in file order (blank-line separated records). */
export function parseProcCrypto(text: string): Record<string, string[]> {
  // A Map, not an object: an algorithm named "toString", "constructor" or "__proto__" is just a name.
  const byName = new Map<string, string[]>();
  for (const rec of text.split(/\n\s*\n/)) {
    const name = /^name\s*:\s*(.+)$/m.exec(rec)?.[1]?.trim();
    const driver = /^driver\s*:\s*(.+)$/m.exec(rec)?.[1]?.trim();
    if (!name) continue;
    const drivers = byName.get(name) ?? [];
    drivers.push(driver ?? name);
    byName.set(name, drivers);
  }
  const out: Record<string, string[]> = {};
  for (const [name, drivers] of byName)
    Object.defineProperty(out, name, { value: drivers, enumerable: true, writable: true, configurable: true });
  return out;
}
