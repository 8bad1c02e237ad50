#!/usr/bin/env node
// Entry point: the sources are TypeScript, run through tsx's loader so that no build step is needed.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
