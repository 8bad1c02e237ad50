import { randomUUID } from "node:crypto";
import { CommitError, ProtocolError, UnsupportedError } from "../../src/errors.js";
import { maskEosKeys, renderEosMacsec } from "./render.js";
import type { SshConnection } from "../../src/transport/ssh.js";
import type { ConfigChange, DeviceFacts, Driver, DriverFlags, LinkSecurityState } from "../contract.js";
import type { DriverContext } from "../contract.js";
import { parseShowMacSecurityInterface } from "./parsers/show-mac-security-interface.js";
import type { DriverDescriptor } from "../contract.js";
import { optionsSchema } from "./options.js";
import { suiteNames } from "./suite-names.js";

/**
 * `eos-macsec`: MACsec on Arista EOS over the SSH CLI. Changes are staged in a named configuration session
 * (`configure session`), diffed with `show session-config named S diffs`, committed with `commit timer` (EOS rolls
 * the session back by itself unless `configure session S commit` follows) and aborted with `configure session S abort`.
 * Any `% ...` line in the CLI's answer is an error.
 * Every script starts with `enable`: `configure session` needs privileged EXEC, and an account without exec
 * authorization logs in unprivileged; in privileged EXEC `enable` changes nothing. (An enable secret is not
 * supported: EOS would take the next line as the password and the script fails with a `%` line.)
 */
export const name = "eos-macsec";
const SHOW_MACSEC = "show mac security interface detail | json";
export const flags: DriverFlags = { writable: true, candidate: true, confirmedCommit: true, rollback: true, verifiedWrites: false };

function timer(s: number): string {
  const t = Math.max(1, Math.floor(s));
  return [Math.floor(t / 3600), Math.floor((t % 3600) / 60), t % 60].map((n) => String(n).padStart(2, "0")).join(":");
}

export function create(ctx: DriverContext): Driver {
  let conn: SshConnection | undefined;
  let session: string | undefined;
  const ssh = async () => (conn ??= await ctx.ssh());
  const cli = async (operation: string, lines: string[]): Promise<string> => {
    const r = await (await ssh()).shellScript(["enable", ...lines], ctx.commandTimeoutMs);
    const bad = `${r.stdout}\n${r.stderr}`.split("\n").find((l) => /^%\s/.test(l.trim()));
    if (bad)
      throw new CommitError(`${ctx.device}: ${operation}: the CLI answered "${maskEosKeys(bad.trim())}"`, {
        device: ctx.device,
        driver: name,
        operation,
      });
    return r.stdout;
  };
  const show = async (cmd: string) => cli(cmd, [cmd]);
  const protocol = (cmd: string, e: unknown) =>
    new ProtocolError(`${ctx.device}: "${cmd}" gave an answer linkcrypt cannot read: ${(e as Error).message}`, {
      device: ctx.device,
      driver: name,
      operation: cmd,
      cause: e,
    });
  const parseJson = <T>(text: string, cmd: string): T => {
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw protocol(cmd, e);
    }
  };
  const interfaces = (text: string) => {
    try {
      return parseShowMacSecurityInterface(text);
    } catch (e) {
      throw protocol(SHOW_MACSEC, e);
    }
  };
  return {
    name,
    device: ctx.device,
    flags,
    async connect() {
      await ssh();
    },
    async close() {
      conn = undefined; // the pool owns the connection
    },
    async facts(): Promise<DeviceFacts> {
      const raw = parseJson<unknown>(await show("show version | json"), "show version | json");
      if (raw === null || typeof raw !== "object" || Array.isArray(raw))
        throw protocol(
          "show version | json",
          new Error(`expected a JSON object, got ${raw === null ? "null" : Array.isArray(raw) ? "an array" : typeof raw}`),
        );
      const o = raw as Record<string, unknown>;
      const v = {
        modelName: typeof o.modelName === "string" ? o.modelName : undefined,
        version: typeof o.version === "string" ? o.version : undefined,
      };
      const ifs = interfaces(await show(SHOW_MACSEC));
      return {
        device: ctx.device,
        driver: name,
        reachable: true,
        observedAt: ctx.now().toISOString(),
        system: { ...(v.modelName ? { description: v.modelName } : {}), ...(v.version ? { version: v.version } : {}) },
        macsecInterfaces: ifs.map((i) => i.name),
      };
    },
    async linkSecurity(): Promise<LinkSecurityState[]> {
      const now = ctx.now().toISOString();
      return interfaces(await show(SHOW_MACSEC)).map((i) => ({
        port: i.name,
        status: i.secured === true ? "secured" : i.secured === false ? "unsecured" : "unknown",
        ...(i.keyNum !== undefined ? { counters: { keyNum: i.keyNum, ...(i.keyMsgId ? { keyMsgId: i.keyMsgId } : {}) } } : {}),
        detail:
          i.secured === undefined
            ? "no controlledPort field in the reply"
            : `controlled port ${i.secured ? "open" : "closed"}${i.traffic ? `, traffic ${i.traffic}` : ""}${i.keyMsgId ? `, key ${i.keyNum ?? "?"} from MKA member ${i.keyMsgId}` : ""}`,
        observedAt: now,
      }));
    },
    async loadCandidate(change: ConfigChange) {
      if (change.kind !== "macsec")
        throw new UnsupportedError(`${ctx.device}: ${name} handles MACsec changes, not ${change.kind}`, {
          device: ctx.device,
          driver: name,
          operation: "loadCandidate",
        });
      if (session) await cli("abort", [`configure session ${session} abort`]).catch(() => undefined);
      session = `linkcrypt-${randomUUID().slice(0, 8)}`;
      await cli("loadCandidate", [`configure session ${session}`, ...renderEosMacsec(change), "end"]);
    },
    async diff() {
      if (!session) return "";
      return maskEosKeys(await show(`show session-config named ${session} diffs`)).trim();
    },
    async commit({ confirmTimeoutS }) {
      if (!session)
        throw new UnsupportedError(`${ctx.device}: nothing staged to commit`, { device: ctx.device, driver: name, operation: "commit" });
      await cli("commit", [`configure session ${session}`, `commit timer ${timer(confirmTimeoutS)}`]);
    },
    async confirm() {
      if (!session)
        throw new UnsupportedError(`${ctx.device}: nothing to confirm`, { device: ctx.device, driver: name, operation: "confirm" });
      await cli("confirm", [`configure session ${session} commit`]);
      session = undefined;
    },
    async rollback() {
      if (!session) return;
      const s = session;
      session = undefined;
      // Fails if the commit timer already rolled the session back; that is the outcome we wanted.
      await cli("rollback", [`configure session ${s} abort`]).catch(() => undefined);
    },
  };
}

/** What the registry knows of this driver (drivers/contract.ts). */
export const descriptor: DriverDescriptor = {
  name,
  kind: "switch",
  create,
  optionsSchema,
  suiteNames,
  render: (c) => renderEosMacsec(c).join("\n"),
};
