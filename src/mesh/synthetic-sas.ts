import { connName } from "../planner/conn-spec.js";
import type { ChildSaRow, HostSaTable } from "./sa-table.js";

/**
 * Synthetic SA tables for a healthy full mesh of `n` hosts (for the pair-check tests and benchmark only): every pair
 * has one INSTALLED CHILD_SA per side with mirrored SPIs and recent traffic. Deterministic.
 */
export function syntheticHostNames(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `h${String(i).padStart(5, "0")}`);
}

export function syntheticMeshTables(n: number): { hosts: string[]; pairs: [string, string][]; tables: HostSaTable[] } {
  const hosts = syntheticHostNames(n);
  const rows: ChildSaRow[][] = hosts.map(() => []);
  const pairs: [string, string][] = [];
  let spi = 0xc0000000;
  const hex = () => (spi++ >>> 0).toString(16).padStart(8, "0");
  const row = (conn: string, spiIn: string, spiOut: string): ChildSaRow => ({
    conn,
    ikeState: "ESTABLISHED",
    child: conn,
    state: "INSTALLED",
    spiIn,
    spiOut,
    bytesIn: 1000,
    bytesOut: 1000,
    packetsIn: 10,
    packetsOut: 10,
    useIn: 3,
    useOut: 3,
    installTime: 100,
  });
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) {
      const [x, y] = [hex(), hex()];
      rows[i]!.push(row(connName(hosts[j]!), x, y));
      rows[j]!.push(row(connName(hosts[i]!), y, x));
      pairs.push([hosts[i]!, hosts[j]!]);
    }
  const tables = hosts.map((h, i) => ({
    host: h,
    ike: rows[i]!.map((r) => ({ conn: r.conn, state: "ESTABLISHED", children: 1 })),
    children: rows[i]!,
    halfOpen: 0,
    plugins: [],
  }));
  return { hosts, pairs, tables };
}
