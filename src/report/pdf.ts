import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { LinkcryptError } from "../errors.js";

/**
 * PDF through Chromium's own print-to-PDF (headless, a fresh profile, no network), so the PDF is exactly what the
 * HTML report's print CSS gives. The browser is /usr/bin/chromium, or $LINKCRYPT_CHROMIUM.
 */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--hide-scrollbars",
];

export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.LINKCRYPT_CHROMIUM || "/usr/bin/chromium";
}

export async function htmlToPdf(html: string, env: NodeJS.ProcessEnv = process.env): Promise<Buffer> {
  const bin = chromiumPath(env);
  if (!existsSync(bin))
    throw new LinkcryptError(
      "E_CHROMIUM",
      `--format pdf needs Chromium at ${bin} (apt-get install chromium fonts-dejavu-core, or set LINKCRYPT_CHROMIUM)`,
    );
  const dir = mkdtempSync(join(tmpdir(), "linkcrypt-pdf-"));
  try {
    const src = join(dir, "report.html");
    const pdf = join(dir, "report.pdf");
    writeFileSync(src, html);
    try {
      await promisify(execFile)(
        bin,
        [...CHROMIUM_FLAGS, `--user-data-dir=${join(dir, "profile")}`, "--no-pdf-header-footer", `--print-to-pdf=${pdf}`, `file://${src}`],
        { timeout: 120_000 },
      );
    } catch (e) {
      throw new LinkcryptError("E_CHROMIUM", `Chromium could not print the report to PDF: ${(e as Error).message.split("\n")[0]}`, {
        cause: e,
      });
    }
    if (!existsSync(pdf) || statSync(pdf).size === 0) throw new LinkcryptError("E_CHROMIUM", "Chromium ran but wrote no PDF");
    return readFileSync(pdf);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
