import { chmodSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/**
 * Writes a file through a temporary sibling renamed into place, so a reader (or a crash) never sees half of it.
 * `mode` is set on the temporary file before the rename, whatever the umask; `mkdir` creates missing parents.
 */
export function writeFileAtomic(path: string, content: string | Uint8Array, o: { mode?: number; mkdir?: boolean } = {}): void {
  if (o.mkdir) mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, content, o.mode === undefined ? {} : { mode: o.mode });
    if (o.mode !== undefined) chmodSync(tmp, o.mode);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true }); // a full disk or a refused rename leaves no temporary file behind
    throw e;
  }
}
