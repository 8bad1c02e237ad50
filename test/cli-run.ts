import { main } from "../src/cli/program.js";

/** Runs the CLI in-process and captures what it prints. */
export async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(argv, { write: (s) => void (out += s) }, { write: (s) => void (err += s) });
  return { code, out, err };
}
