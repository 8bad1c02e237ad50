import { espCipherNames, findEspCipher } from "../crypto/esp-ciphers.js";
import { UsageError } from "../errors.js";
import { budget, outerSize, type Family, type Layer } from "../planner/mtu-budget.js";
import { EXIT, json, type Out } from "./output.js";

export interface MtuOptions {
  pathMtu?: string;
  ip?: string;
  mode?: string;
  cipher?: string;
  natT?: boolean;
  macsec?: string;
  vxlan?: boolean;
  inner?: string;
  json?: boolean;
}

function intOption(name: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v)) throw new UsageError(`${name} must be a whole number of bytes, got "${v}"`);
  const n = Number(v);
  if (n < min || n > max) throw new UsageError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/**
 * `linkcrypt mtu`: the overhead calculator. From the inside out: VXLAN (with --vxlan), then ESP (with --cipher;
 * --mode and --nat-t shape it), then MACsec (with --macsec), which sits on the port whose MTU is --path-mtu.
 * JSON: {"overheadBytes","maxInnerMtu","outerBytes"}.
 */
export function runMtu(o: MtuOptions, out: Out): number {
  if (o.pathMtu === undefined) throw new UsageError("--path-mtu is required, e.g. linkcrypt mtu --path-mtu 1500 --cipher aes-gcm-128");
  const pathMtu = intOption("--path-mtu", o.pathMtu, 68, 65535);
  if (o.ip !== undefined && o.ip !== "4" && o.ip !== "6") throw new UsageError(`--ip must be 4 or 6, got "${o.ip}"`);
  const family = (o.ip === "6" ? 6 : 4) as Family;
  if (o.mode !== undefined && o.mode !== "transport" && o.mode !== "tunnel")
    throw new UsageError(`--mode must be transport or tunnel, got "${o.mode}"`);
  if (o.macsec !== undefined && o.macsec !== "sci" && o.macsec !== "nosci")
    throw new UsageError(`--macsec must be sci or nosci, got "${o.macsec}"`);
  const cipher = o.cipher === undefined ? undefined : findEspCipher(o.cipher);
  if (o.cipher !== undefined && !cipher) throw new UsageError(`unknown cipher "${o.cipher}"; known: ${espCipherNames().join(", ")}`);
  if (!cipher && (o.natT || o.mode !== undefined))
    throw new UsageError(`${o.natT ? "--nat-t" : "--mode"} describes ESP: give --cipher too`);
  const inner = o.inner === undefined ? undefined : intOption("--inner", o.inner, family === 6 ? 40 : 20, 65535);

  const stack: Layer[] = [];
  if (o.vxlan) stack.push({ kind: "vxlan", family });
  if (cipher) stack.push({ kind: "esp", cipher, mode: (o.mode ?? "transport") as "transport" | "tunnel", family, natT: o.natT === true });
  if (o.macsec) stack.push({ kind: "macsec", sci: o.macsec === "sci" });
  const b = budget(stack, pathMtu, family);
  const outer = inner === undefined ? null : outerSize(stack, inner);
  if (o.json) {
    out.write(json({ overheadBytes: b.overheadBytes, maxInnerMtu: b.maxInnerMtu, outerBytes: outer ? outer.outer : null }));
  } else {
    const desc =
      stack.length === 0
        ? "no encapsulation"
        : outerSize(stack, b.maxInnerMtu)
            .costs.map((c) => c.layer)
            .join(" inside ");
    const lines = [`path MTU ${pathMtu}, IPv${family}: ${desc}`];
    lines.push(`  largest inner packet: ${b.maxInnerMtu} bytes`);
    lines.push(`  overhead at that size: ${b.overheadBytes} bytes`);
    for (const c of b.layers) lines.push(`    ${c.layer}: ${c.items.map((i) => `${i.what} ${i.bytes}`).join(", ")}`);
    lines.push(`  TCP MSS clamp: ${b.mssClamp}`);
    if (outer && inner !== undefined)
      lines.push(
        `  a ${inner}-byte packet becomes ${outer.outer} bytes (${outer.outer <= pathMtu ? "fits" : `does NOT fit the ${pathMtu}-byte path`})`,
      );
    out.write(`${lines.join("\n")}\n`);
  }
  return b.maxInnerMtu > 0 ? EXIT.ok : EXIT.problems;
}
