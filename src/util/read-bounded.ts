import { closeSync, openSync, readSync } from "node:fs";

/**
 * Read a whole input file, but never more than `maxBytes`: a path like /dev/zero, a FIFO that never ends or a
 * runaway file is refused with a message naming the limit, instead of filling memory or hanging on a read that
 * cannot finish. Throws the fs error (ENOENT, EISDIR, ...) as it is, or a RangeError past the limit; callers turn
 * both into their own typed error.
 */
export const INPUT_MAX_BYTES = 64 * 1024 * 1024;

export class InputTooLarge extends RangeError {
  constructor(
    readonly path: string,
    readonly limit: number,
  ) {
    super(`${path} is larger than ${limit} bytes (the limit for an input file)`);
  }
}

export function readBounded(path: string, maxBytes = INPUT_MAX_BYTES): string {
  const fd = openSync(path, "r");
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, maxBytes + 1 - total));
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > maxBytes) throw new InputTooLarge(path, maxBytes);
    }
    return Buffer.concat(chunks).toString("utf8");
  } finally {
    closeSync(fd);
  }
}
