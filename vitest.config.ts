import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Real-peer tests start daemons and bind ports; keep them from starving each other on a 2-core machine.
    maxWorkers: 2,
  },
});
