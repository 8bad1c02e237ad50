/**
 * Pure: `wpa_cli status` of a wpa_supplicant running MKA (driver macsec_linux), as key=value pairs. The KaY part
 * (wpa_supplicant 2.10) has `PAE KaY status`, `Authenticated`, `Secured`, `Failed`, `Actor Priority`,
 * `Key Server Priority`, `Is Key Server`, `Number of Keys Distributed`, `Number of Keys Received`,
 * `MKA Hello Time`. `Is Key Server` is unreliable in 2.10 (it read No on both ends of a secured link), so the
 * key server is told from the keys distributed/received counts instead.
 */
export interface WpaMkaStatus {
  fields: Record<string, string>;
  kayActive: boolean;
  secured: boolean;
  failed: boolean;
  keysDistributed: number | undefined;
  keysReceived: number | undefined;
  actorPriority: number | undefined;
}

export function parseWpaCliStatus(text: string): WpaMkaStatus {
  const fields: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i <= 0) continue;
    fields[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  const num = (k: string) => (fields[k] !== undefined && /^\d+$/.test(fields[k]!) ? Number(fields[k]) : undefined);
  return {
    fields,
    kayActive: fields["PAE KaY status"] === "Active",
    secured: fields.Secured === "Yes",
    failed: fields.Failed === "Yes",
    keysDistributed: num("Number of Keys Distributed"),
    keysReceived: num("Number of Keys Received"),
    actorPriority: num("Actor Priority"),
  };
}
