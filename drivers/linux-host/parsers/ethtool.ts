import type { OffloadFlag } from "../../contract.js";

/** `ethtool -i IF` -> the kernel driver name ("mlx5_core", "ixgbe", ...). */
export function parseEthtoolInfo(text: string): string | undefined {
  return /^driver:\s*(\S+)/m.exec(text)?.[1];
}

/** `ethtool -k IF` -> the ESP offload features. "off [fixed]" means the hardware cannot do it. */
export function parseEthtoolFeatures(text: string): { espHwOffload: OffloadFlag; espTxCsumHwOffload: OffloadFlag } {
  const flag = (name: string): OffloadFlag => {
    const m = new RegExp(`^\\s*${name}:\\s*(on|off)(\\s*\\[fixed\\])?`, "m").exec(text);
    if (!m) return "absent";
    return m[1] === "on" ? "on" : m[2] ? "fixed-off" : "off";
  };
  return { espHwOffload: flag("esp-hw-offload"), espTxCsumHwOffload: flag("esp-tx-csum-hw-offload") };
}
