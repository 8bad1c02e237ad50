// The executable entry (bin/linkcrypt.js loads this). The program itself is in program.ts so tests can import it.
import { main } from "./program.js";

// `linkcrypt plan … | head -1`: once the reader is gone, further output has nowhere to go. Without a listener the
// EPIPE is an unhandled 'error' event and a stack trace; with one, the command finishes quietly. Any other write
// failure (a full disk under a redirect) still makes the run fail.
let writeFailed = false;
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") writeFailed = true;
  });

const code = await main(process.argv.slice(2));
process.exitCode = writeFailed && code === 0 ? 1 : code;
