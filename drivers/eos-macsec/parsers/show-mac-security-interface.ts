/**
 * `show mac security interface detail | json`. Only fields that public samples show are read:
 *   {"interfaces": {"<name>": {"portId", "address", "controlledPort": bool, "keyNum": int, "keyMsgId": string,
 *     "details": {"traffic": "Protected", "keyServerPriority", "sessionReKeyPeriod", "latestKeyMsgId",
 *                 "oldKeyMsgId", "localSsci", ...}}}}
 * Sources: a public eAPI sample of `show mac security interface detail | json` (two interfaces, EOS goeapi structures),
 * and sonic-mgmt's Arista helper, which takes `interfaces[<name>].controlledPort` of `show mac security interface
 * <name> | json` as "MACsec is functional". No public sample shows a profile name or cipher, so neither is read
 * (the driver takes the cipher from the configuration it wrote instead).
 * `controlledPort: true` means MKA opened the controlled port; `details.traffic: "Protected"` says the traffic on it is
 * MACsec-protected (the more direct signal where the detail is present: with `traffic unprotected allow` an open port
 * alone might not prove MKA; not determinable from public material).
 */
export interface EosMacsecInterface {
  name: string;
  secured: boolean | undefined;
  /** The SAK in use (key number and key message id of the key server's MKA member), if any. */
  keyNum: number | undefined;
  keyMsgId: string | undefined;
  traffic: string | undefined;
}

export function parseShowMacSecurityInterface(json: string): EosMacsecInterface[] {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    throw new Error(`"show mac security interface detail | json" did not return JSON: ${json.slice(0, 120)}`);
  }
  const raw = (data as { interfaces?: unknown } | null)?.interfaces;
  const ifs = raw && typeof raw === "object" && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  return Object.entries(ifs)
    .map(([name, v]) => {
      const o = (v && typeof v === "object" ? v : {}) as Record<string, unknown>;
      const d = (o.details && typeof o.details === "object" ? o.details : {}) as Record<string, unknown>;
      const traffic = typeof d.traffic === "string" ? d.traffic : undefined;
      const port = typeof o.controlledPort === "boolean" ? o.controlledPort : undefined;
      return {
        name,
        secured: port === undefined ? undefined : port && (traffic === undefined || traffic === "Protected"),
        keyNum: typeof o.keyNum === "number" ? o.keyNum : undefined,
        keyMsgId: typeof o.keyMsgId === "string" && o.keyMsgId !== "" ? o.keyMsgId : undefined,
        traffic,
      };
    })
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}
