import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { get } from "node:http";
import { resolve } from "node:path";

/**
 * A `linkcrypt serve` process for the serve tests: started from the sources (bin/linkcrypt.js), its JSON log lines
 * collected, its HTTP port learnt from the "listening" line (give --listen 127.0.0.1:0).
 */
export interface ServeProc {
  child: ChildProcess;
  logs: Record<string, unknown>[];
  port: number;
  waitLog(what: string, pred: (l: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
  get(path: string): Promise<{ status: number; body: string }>;
  /** SIGTERM, and the exit code. */
  stop(): Promise<number | null>;
}

const bin = resolve("bin/linkcrypt.js");

export async function startServe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServeProc> {
  const child = spawn(process.execPath, [bin, "serve", ...args], {
    env: { ...process.env, LINKCRYPT_FROM_SOURCE: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Record<string, unknown>[] = [];
  let rest = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => {
    rest += d.toString();
    const lines = rest.split("\n");
    rest = lines.pop()!;
    for (const l of lines) {
      try {
        logs.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        logs.push({ msg: "(not JSON)", line: l });
      }
    }
  });
  child.stderr!.on("data", (d: Buffer) => void (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const waitLog = async (what: string, pred: (l: Record<string, unknown>) => boolean, ms = 20_000) => {
    const end = Date.now() + ms;
    for (;;) {
      const hit = logs.find(pred);
      if (hit) return hit;
      if (child.exitCode !== null)
        throw new Error(`serve exited (${child.exitCode}) before: ${what}\n${stderr}\n${JSON.stringify(logs.slice(-10))}`);
      if (Date.now() > end) throw new Error(`timed out waiting for serve: ${what}\n${stderr}\n${JSON.stringify(logs.slice(-10))}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const l = await waitLog("listening", (x) => x.msg === "listening", 30_000);
  const port = Number(String(l.address).split(":").pop());
  return {
    child,
    logs,
    port,
    waitLog,
    get: (path) =>
      new Promise((res, rej) => {
        get({ host: "127.0.0.1", port, path, timeout: 10_000 }, (r) => {
          let body = "";
          r.on("data", (d: Buffer) => void (body += d.toString()));
          r.on("end", () => res({ status: r.statusCode ?? 0, body }));
        }).on("error", rej);
      }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** `promtool check metrics` on a scrape: its exit code and what it said. */
export function promtoolCheck(text: string): { code: number | null; out: string } {
  const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Prometheus text to {series: value} for one metric type. */
export function seriesOfType(text: string, type: "counter" | "gauge"): Map<string, number> {
  const types = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (m && types.get(m[1]!) === type) out.set(`${m[1]}${m[2] ?? ""}`, Number(m[3]));
  }
  return out;
}

export const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
