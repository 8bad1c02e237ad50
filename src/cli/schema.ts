import { z } from "zod";
import { Inventory } from "../model/inventory-schema.js";
import { json, type Out } from "./output.js";
import { writeAtomically } from "./plan.js";

/** The inventory's JSON Schema, for editors (yaml-language-server) and other tools. */
export function inventoryJsonSchema(): unknown {
  return {
    $id: "https://linkcrypt.invalid/inventory.schema.json",
    title: "linkcrypt inventory",
    ...(z.toJSONSchema(Inventory, { io: "input" }) as object),
  };
}

export function runSchema(opts: { out?: string }, out: Out): number {
  const text = json(inventoryJsonSchema());
  if (opts.out) writeAtomically(opts.out, text);
  else out.write(text);
  return 0;
}
