/** `swanctl --version` ("strongSwan swanctl 5.9.8") or `ipsec --version` ("Linux strongSwan U5.9.8/K6.1.0") -> "5.9.8". */
export function parseStrongswanVersion(text: string): string | undefined {
  return /strongSwan\s+(?:swanctl\s+)?U?(\d+\.\d+\.\d+)/i.exec(text)?.[1];
}
