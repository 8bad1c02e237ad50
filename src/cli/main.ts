// The executable entry (bin/linkcrypt.js loads this). The program itself is in program.ts so tests can import it.
import { main } from "./program.js";

process.exitCode = await main(process.argv.slice(2));
