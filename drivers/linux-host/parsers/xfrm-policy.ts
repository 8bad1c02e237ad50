/**
 * `ip xfrm policy` (iproute2) -> the kernel's IPsec policies, and what protects traffic from one address to another.
 *
 * Example block (iproute2 6.1):
 *   src 10.77.0.11/32 dst 10.77.0.12/32
 *   	dir out priority 367232 ptype main
 *   	tmpl src 0.0.0.0 dst 0.0.0.0
 *   		proto esp reqid 1 mode transport
 * `action block` appears on drop policies; `socket in|out` entries are charon's per-socket IKE bypasses.
 */
export interface XfrmPolicy {
  src: string;
  dst: string;
  dir: "in" | "out" | "fwd" | "socket";
  action: "allow" | "block";
  priority: number;
  /** IPsec protocols of the templates (esp, ah, comp); empty for a bypass or a drop. */
  tmpl: string[];
}

export function parseXfrmPolicies(text: string): XfrmPolicy[] {
  const out: XfrmPolicy[] = [];
  let cur: XfrmPolicy | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const sel = /^src (\S+) dst (\S+)/.exec(line);
    if (sel && !raw.startsWith("\t") && !raw.startsWith(" ")) {
      cur = { src: sel[1]!, dst: sel[2]!, dir: "socket", action: "allow", priority: 0, tmpl: [] };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    const dir = /^(?:dir (in|out|fwd)|socket (?:in|out))\b/.exec(line);
    if (dir) {
      cur.dir = (dir[1] ?? "socket") as XfrmPolicy["dir"];
      if (/\baction block\b/.test(line)) cur.action = "block";
      const pr = /\bpriority (\d+)/.exec(line);
      if (pr) cur.priority = Number(pr[1]);
      continue;
    }
    const proto = /^proto (\w+)/.exec(line);
    if (proto) cur.tmpl.push(proto[1]!);
  }
  return out;
}

function v4(a: string): number | undefined {
  const p = a.split(".");
  if (p.length !== 4) return undefined;
  let n = 0;
  for (const x of p) {
    const v = Number(x);
    if (!/^\d{1,3}$/.test(x) || v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

/** Whether an address lies in a selector prefix (IPv4; an IPv6 selector matches only itself or ::/0). */
function inPrefix(addr: string, prefix: string): boolean {
  const [net, lenText] = prefix.split("/");
  const len = Number(lenText ?? (addr.includes(":") ? 128 : 32));
  if (addr.includes(":") || (net ?? "").includes(":")) return len === 0 ? (net ?? "").includes(":") === addr.includes(":") : net === addr;
  const a = v4(addr);
  const n = v4(net ?? "");
  if (a === undefined || n === undefined || !(len >= 0 && len <= 32)) return false;
  if (len === 0) return true;
  const mask = len === 32 ? 0xffffffff : ~(0xffffffff >>> len) >>> 0;
  return (a & mask) >>> 0 === (n & mask) >>> 0;
}

export type Protection = "esp" | "block" | "none";

/** What the kernel does with a packet from `src` to `dst` by policy: ESP, drop, or nothing (cleartext). */
export function outboundProtection(
  policies: readonly XfrmPolicy[],
  src: string,
  dst: string,
): { protection: Protection; priority?: number } {
  let best: XfrmPolicy | undefined;
  for (const p of policies) {
    if (p.dir !== "out" || !inPrefix(src, p.src) || !inPrefix(dst, p.dst)) continue;
    if (!best || p.priority < best.priority) best = p;
  }
  if (!best) return { protection: "none" };
  const protection: Protection = best.action === "block" ? "block" : best.tmpl.includes("esp") ? "esp" : "none";
  return { protection, priority: best.priority };
}
