import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { collectOutput, SSH_MAX_OUTPUT_BYTES } from "../../../src/transport/ssh.js";

/** Just enough of an ssh2 channel: data events on the channel and on its stderr. */
function channel() {
  const ch = new EventEmitter() as EventEmitter & { stderr: EventEmitter };
  ch.stderr = new EventEmitter();
  return ch;
}

describe("transport: ssh command output is bounded", () => {
  it("a device that never stops printing is stopped past the limit, once", () => {
    const ch = channel();
    let overflows = 0;
    collectOutput(ch as never, () => overflows++);
    const mb = Buffer.alloc(1 << 20, 0x61);
    for (let i = 0; i < SSH_MAX_OUTPUT_BYTES / mb.length + 3; i++) (i % 2 ? ch.stderr : ch).emit("data", mb);
    expect(overflows).toBeGreaterThanOrEqual(1);
  });

  it("a UTF-8 character split across two packets stays whole", () => {
    const ch = channel();
    const read = collectOutput(ch as never, () => undefined);
    const bytes = Buffer.from("café ✓", "utf8");
    ch.emit("data", bytes.subarray(0, 4));
    ch.emit("data", bytes.subarray(4, 8));
    ch.emit("data", bytes.subarray(8));
    ch.stderr.emit("data", Buffer.from("warn"));
    expect(read()).toEqual({ stdout: "café ✓", stderr: "warn" });
  });
});
