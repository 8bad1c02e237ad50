import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Real-peer tests start daemons (netconfd, snmpd, sshd, charon) whose timers and replies compete for a 2-core
    // machine; run files one at a time so one file's load cannot time out another's peers.
    fileParallelism: false,
  },
});
