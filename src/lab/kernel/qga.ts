import { connect, type Socket } from "node:net";
import { LinkcryptError } from "../../errors.js";

/**
 * A client for qemu-guest-agent on a virtio-serial port (the host end is a unix socket). It is the kernel lab's
 * control channel into each VM: `guest-exec` with captured output, polled with `guest-exec-status`.
 *
 * The agent speaks line-delimited JSON. A fresh connection may hold a half-read command from an earlier client, so
 * each session starts with 0xFF (the agent's parser reset) and `guest-sync-delimited`, whose answer is preceded by
 * 0xFF; anything before that marker is discarded.
 */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

type Reply = { return?: unknown; error?: { class?: string; desc?: string } };

class AgentSession {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: ((r: Reply) => void) | undefined;
  private failure: Error | undefined;
  private synced = false;

  constructor(
    private readonly sock: Socket,
    private readonly fail: (e: Error) => void,
  ) {
    sock.on("data", (d: Buffer) => this.onData(d));
    sock.on("error", (e) => this.abort(e));
    sock.on("close", () => this.abort(new LinkcryptError("E_LAB", "the guest agent closed the connection")));
  }

  private abort(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    this.fail(e);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (let nl = this.buf.indexOf(10); nl >= 0; nl = this.buf.indexOf(10)) {
      let line = this.buf.subarray(0, nl);
      this.buf = this.buf.subarray(nl + 1);
      const reset = line.lastIndexOf(0xff);
      if (reset >= 0) {
        line = line.subarray(reset + 1);
        this.synced = true;
      }
      if (!this.synced) continue;
      let msg: Reply;
      try {
        msg = JSON.parse(line.toString("utf8")) as Reply;
      } catch {
        continue;
      }
      const w = this.waiting;
      this.waiting = undefined;
      w?.(msg);
    }
  }

  send(execute: string, args?: Record<string, unknown>): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.sock.write(`${JSON.stringify(args ? { execute, arguments: args } : { execute })}\n`);
    });
  }

  async sync(): Promise<void> {
    this.sock.write(Buffer.from([0xff]));
    const id = 1 + Math.floor(Math.random() * 2 ** 30);
    for (let i = 0; i < 20; i++) {
      const r = await this.send("guest-sync-delimited", { id });
      if (r.return === id) return;
    }
    throw new LinkcryptError("E_LAB", "the guest agent did not answer guest-sync-delimited");
  }
}

function withSession<T>(socketPath: string, timeoutMs: number, what: string, fn: (s: AgentSession) => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const sock = connect(socketPath);
    const finish = (e: Error | undefined, v?: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (e) reject(e);
      else resolve(v as T);
    };
    const timer = setTimeout(
      () => finish(new LinkcryptError("E_TIMEOUT", `${what}: no answer from the guest agent within ${timeoutMs} ms (${socketPath})`)),
      timeoutMs,
    );
    const session = new AgentSession(sock, (e) => finish(e));
    sock.on("connect", () => {
      session
        .sync()
        .then(() => fn(session))
        .then(
          (v) => finish(undefined, v),
          (e: Error) => finish(e),
        );
    });
  });
}

const b64 = (s: unknown) => Buffer.from(typeof s === "string" ? s : "", "base64").toString("utf8");

/** Run `sh -c command` in the guest and wait for it. Background daemons must not keep stdout open (use `>/dev/null 2>&1 &`). */
export function guestExec(socketPath: string, command: string, timeoutMs = 60_000): Promise<ExecResult> {
  return withSession(socketPath, timeoutMs, `guest command "${command.slice(0, 60)}"`, async (s) => {
    const started = await s.send("guest-exec", { path: "/bin/sh", arg: ["-c", command], "capture-output": true });
    if (started.error) throw new LinkcryptError("E_LAB", `guest-exec failed: ${started.error.desc ?? started.error.class}`);
    const pid = (started.return as { pid: number }).pid;
    for (let delay = 20; ; delay = Math.min(delay * 2, 200)) {
      const st = await s.send("guest-exec-status", { pid });
      if (st.error) throw new LinkcryptError("E_LAB", `guest-exec-status failed: ${st.error.desc ?? st.error.class}`);
      const r = st.return as { exited: boolean; exitcode?: number; signal?: number; "out-data"?: string; "err-data"?: string };
      if (r.exited)
        return {
          code: r.exitcode ?? (r.signal !== undefined ? 128 + r.signal : -1),
          stdout: b64(r["out-data"]),
          stderr: b64(r["err-data"]),
        };
      await new Promise((t) => setTimeout(t, delay));
    }
  });
}

/** True once the agent answers a ping. */
export async function guestReady(socketPath: string, timeoutMs = 1500): Promise<boolean> {
  try {
    await withSession(socketPath, timeoutMs, "guest-ping", async (s) => s.send("guest-ping"));
    return true;
  } catch {
    return false;
  }
}
