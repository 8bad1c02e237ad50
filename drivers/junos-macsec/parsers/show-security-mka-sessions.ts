/**
 * `show security mka sessions` (text). Junos documents an interface state of Secured, Secured-Suspended or
 * Unsecured per session, with "Interface name:" starting each session block in the detailed form, and a table
 * (Interface, Member-ID, Type, Status, ...) in the summary form. The exact column layout is unconfirmed, so this
 * parser keys on the interface name and the first state word it finds in the interface's block or row.
 */
export interface MkaSession {
  interface: string;
  state: "Secured" | "Secured-Suspended" | "Unsecured" | "unknown";
  keyServer: boolean | undefined;
  cipher: string | undefined;
}

const STATE = /(?<!\bNot[ \t-])\b(Secured-Suspended|Secured|Unsecured)\b/i;
const WORDS: Record<string, MkaSession["state"]> = { "secured-suspended": "Secured-Suspended", secured: "Secured", unsecured: "Unsecured" };
const word = (w: string | undefined): MkaSession["state"] | undefined => (w === undefined ? undefined : WORDS[w.toLowerCase()]);

/**
 * The state of one session block: the first labelled state line that speaks of "secured" decides, and must start with
 * a known word ("Secured - Primary" is Secured; "Not Secured" or any other wording is unknown, never Secured).
 * Without such a line, a known state word anywhere in the block (not preceded by "Not").
 */
function blockState(block: string): MkaSession["state"] {
  const labelled = [...block.matchAll(/(?:Interface State|Status|State):[ \t]*([^\n]*)/gi)]
    .map((m) => m[1]!.trim())
    .find((v) => /secured/i.test(v));
  if (labelled !== undefined) return word(/^(Secured-Suspended|Secured|Unsecured)\b/i.exec(labelled)?.[1]) ?? "unknown";
  return word(STATE.exec(block)?.[1]) ?? "unknown";
}

export function parseShowSecurityMkaSessions(text: string): MkaSession[] {
  const out: MkaSession[] = [];
  if (/^\s*Interface name:/m.test(text)) {
    for (const block of text.split(/^\s*(?=Interface name:)/m).filter((b) => /^Interface name:/.test(b.trim()))) {
      const iface = /Interface name:[ \t]*(\S+)/.exec(block)?.[1];
      if (!iface) continue; // "Interface name:" with no name after it (a truncated answer)
      const state = blockState(block);
      const ks = /Key server:\s*(yes|no)/i.exec(block)?.[1];
      out.push({
        interface: iface,
        state: state ?? "unknown",
        keyServer: ks === undefined ? undefined : ks.toLowerCase() === "yes",
        cipher: /Cipher suite:\s*(\S+)/i.exec(block)?.[1],
      });
    }
    return out;
  }
  for (const line of text.split("\n")) {
    const m = /^\s*((?:xe|et|ge|ae|mge)-\S+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const state = word(STATE.exec(m[2]!)?.[1]);
    out.push({ interface: m[1]!, state: state ?? "unknown", keyServer: undefined, cipher: undefined });
  }
  return out;
}
