import { randomUUID } from "node:crypto";

/**
 * serve's log: one line per event. On a terminal, readable text; otherwise (journald, a container, a pipe) one JSON
 * object per line with the time, level, message, and the correlation id (`cid`) of the action it belongs to.
 */
export type Level = "debug" | "info" | "warn" | "error";
export type Fields = Record<string, unknown>;

export interface Logger {
  log(level: Level, msg: string, fields?: Fields): void;
}

export function newCid(): string {
  return randomUUID().slice(0, 8);
}

export function streamLogger(out: { write(s: string): unknown }, o: { json: boolean; now?: () => Date; minLevel?: Level }): Logger {
  const order: Level[] = ["debug", "info", "warn", "error"];
  const min = order.indexOf(o.minLevel ?? "info");
  const now = o.now ?? (() => new Date());
  return {
    log(level, msg, fields = {}) {
      if (order.indexOf(level) < min) return;
      const ts = now().toISOString();
      if (o.json) out.write(`${JSON.stringify({ ts, level, msg, ...fields })}\n`);
      else {
        const extra = Object.entries(fields)
          .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
          .join(" ");
        out.write(`${ts} ${level.padEnd(5)} ${msg}${extra ? ` ${extra}` : ""}\n`);
      }
    },
  };
}
