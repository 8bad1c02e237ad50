import type { ViciClient, ViciMessage } from "../transport/vici.js";

/**
 * One host's view of its IPsec SAs, flattened from VICI list-sas: every CHILD_SA with its IKE_SA's connection and
 * state. This is the input of the pure pair check.
 */
export interface ChildSaRow {
  conn: string;
  ikeState: string;
  child: string;
  state: string;
  spiIn: string;
  spiOut: string;
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  /** Seconds since the last inbound / outbound packet; undefined if none yet. */
  useIn: number | undefined;
  useOut: number | undefined;
  installTime: number | undefined;
  /** Negotiated ESP encryption algorithm and key size, as charon reports them (evidence for reports). */
  encrAlg?: string;
  encrKeysize?: number;
}

export interface HostSaTable {
  host: string;
  /** IKE_SAs per connection, with their states, including ones that have no CHILD_SA. */
  ike: { conn: string; state: string; children: number }[];
  children: ChildSaRow[];
  halfOpen: number;
  /** charon's loaded plugins (from stats): kernel-libipsec means no SAs in the kernel by design. */
  plugins: string[];
}

const num = (v: unknown) => (typeof v === "string" && v !== "" ? Number(v) : undefined);

export function saTableFromVici(host: string, events: ViciMessage[], stats?: ViciMessage): HostSaTable {
  const ike: HostSaTable["ike"] = [];
  const children: ChildSaRow[] = [];
  for (const ev of events) {
    for (const [conn, sa] of Object.entries(ev)) {
      if (typeof sa !== "object" || Array.isArray(sa)) continue;
      const ikeState = String(sa.state ?? "?");
      const kids = (sa["child-sas"] ?? {}) as ViciMessage;
      const kidList = Object.values(kids).filter((c): c is ViciMessage => typeof c === "object" && !Array.isArray(c));
      ike.push({ conn, state: ikeState, children: kidList.length });
      for (const c of kidList)
        children.push({
          conn,
          ikeState,
          child: String(c.name ?? "?"),
          state: String(c.state ?? "?"),
          spiIn: String(c["spi-in"] ?? ""),
          spiOut: String(c["spi-out"] ?? ""),
          bytesIn: num(c["bytes-in"]) ?? 0,
          bytesOut: num(c["bytes-out"]) ?? 0,
          packetsIn: num(c["packets-in"]) ?? 0,
          packetsOut: num(c["packets-out"]) ?? 0,
          useIn: num(c["use-in"]),
          useOut: num(c["use-out"]),
          installTime: num(c["install-time"]),
          ...(typeof c["encr-alg"] === "string" ? { encrAlg: c["encr-alg"] } : {}),
          ...(num(c["encr-keysize"]) ? { encrKeysize: num(c["encr-keysize"])! } : {}),
        });
    }
  }
  const halfOpen = Number(((stats?.ikesas as ViciMessage | undefined)?.["half-open"] as string | undefined) ?? 0);
  const plugins = Array.isArray(stats?.plugins) ? (stats.plugins as string[]) : [];
  return { host, ike, children, halfOpen, plugins };
}

export async function readSaTable(host: string, v: ViciClient): Promise<HostSaTable> {
  const { events } = await v.stream("list-sas", "list-sa", { noblock: "yes" });
  const stats = await v.request("stats");
  return saTableFromVici(host, events, stats);
}
