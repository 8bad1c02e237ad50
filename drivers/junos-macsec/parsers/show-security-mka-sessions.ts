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

const STATE = /\b(Secured-Suspended|Secured|Unsecured)\b/;

export function parseShowSecurityMkaSessions(text: string): MkaSession[] {
  const out: MkaSession[] = [];
  if (/^\s*Interface name:/m.test(text)) {
    for (const block of text.split(/^\s*(?=Interface name:)/m).filter((b) => /^Interface name:/.test(b.trim()))) {
      const iface = /Interface name:[ \t]*(\S+)/.exec(block)?.[1];
      if (!iface) continue; // "Interface name:" with no name after it (a truncated answer)
      const state = (/(?:Interface State|Status|State):\s*(Secured-Suspended|Secured|Unsecured)/i.exec(block)?.[1] ?? STATE.exec(block)?.[1]) as MkaSession["state"] | undefined;
      const ks = /Key server:\s*(yes|no)/i.exec(block)?.[1];
      out.push({ interface: iface, state: state ?? "unknown", keyServer: ks === undefined ? undefined : ks.toLowerCase() === "yes", cipher: /Cipher suite:\s*(\S+)/i.exec(block)?.[1] });
    }
    return out;
  }
  for (const line of text.split("\n")) {
    const m = /^\s*((?:xe|et|ge|ae|mge)-\S+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const state = STATE.exec(m[2]!)?.[1] as MkaSession["state"] | undefined;
    out.push({ interface: m[1]!, state: state ?? "unknown", keyServer: undefined, cipher: undefined });
  }
  return out;
}
