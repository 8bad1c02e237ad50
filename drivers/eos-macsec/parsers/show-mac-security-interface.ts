/**
 * `show mac security interface | json`. The JSON shape is known only from third-party eAPI code (unconfirmed):
 * `{"interfaces": {"Ethernet1/1": {"controlledPort": true, "profileName": "P", "cipher": "...", "keyInUse": {...}}}}`.
 * `controlledPort: true` means MKA has secured the port (the controlled port is open).
 */
export interface EosMacsecInterface {
  name: string;
  secured: boolean | undefined;
  profile: string | undefined;
  cipher: string | undefined;
}

export function parseShowMacSecurityInterface(json: string): EosMacsecInterface[] {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    throw new Error(`"show mac security interface | json" did not return JSON: ${json.slice(0, 120)}`);
  }
  const ifs = (data as { interfaces?: Record<string, Record<string, unknown>> }).interfaces ?? {};
  return Object.entries(ifs)
    .map(([name, v]) => ({
      name,
      secured: typeof v.controlledPort === "boolean" ? v.controlledPort : undefined,
      profile: typeof v.profileName === "string" ? v.profileName : undefined,
      cipher: typeof v.cipher === "string" ? v.cipher : undefined,
    }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}
