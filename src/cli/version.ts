import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * What `linkcrypt --version` prints: "linkcrypt VERSION (COMMIT)". The bundle (scripts/build.mjs) embeds both at
 * build time, so an installed copy needs neither package.json nor git; run from source through tsx, they are read
 * from the checkout once per process.
 */
declare const LINKCRYPT_BUILD: { version: string; commit: string } | undefined;

let cached: string | undefined;

export function versionLine(): string {
  cached ??= format(typeof LINKCRYPT_BUILD === "undefined" ? fromCheckout() : LINKCRYPT_BUILD);
  return cached;
}

const format = (b: { version: string; commit: string }) => `linkcrypt ${b.version} (${b.commit})`;

function fromCheckout(): { version: string; commit: string } {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  let version = "unknown";
  try {
    version = (JSON.parse(readFileSync(`${root}package.json`, "utf8")) as { version?: string }).version ?? version;
  } catch {
    /* no package.json beside the sources: the version stays unknown */
  }
  let commit = "source, commit unknown";
  try {
    const head = execFileSync("git", ["-C", root, "rev-parse", "--short=12", "HEAD"], {
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 5000,
    })
      .toString()
      .trim();
    if (head) commit = `${head}, from source`;
  } catch {
    /* not a git checkout */
  }
  return { version, commit };
}
