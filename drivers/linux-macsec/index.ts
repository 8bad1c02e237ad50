import { randomUUID } from "node:crypto";
import { CommitError, ProtocolError, UnsupportedError } from "../../src/errors.js";
import { lineDiff } from "../../src/util/line-diff.js";
import type { SshConnection } from "../../src/transport/ssh.js";
import type { ConfigChange, DeviceFacts, Driver, DriverFlags, LinkSecurityState, MacsecChange } from "../contract.js";
import type { DriverContext } from "../contract.js";
import { checkPortName, linuxMacsecOptions } from "./options.js";
import { parseIpMacsecShow, type MacsecSecy } from "./parsers/ip-macsec-show.js";
import { parseWpaCliStatus, type WpaMkaStatus } from "./parsers/wpa-cli-status.js";
import { agentScript, maskCak, planPorts, type PortCandidate } from "./render.js";
import type { DriverDescriptor } from "../contract.js";
import { optionsSchema } from "./options.js";
import { suiteNames } from "./suite-names.js";

/**
 * `linux-macsec`: MACsec on a Linux switch or router (SONiC-like: the kernel's macsec driver keyed by wpa_supplicant's
 * MKA, `-D macsec_linux`), over SSH as root. Each port's configuration is a set of wpa_supplicant files, one per CA
 * (static CAK/CKN), kept by a small device-side agent (render.ts) in running/, candidate/ and previous/ directories:
 *   loadCandidate  writes candidate/ (nothing live changes)
 *   diff           running/ vs candidate/, CAKs masked
 *   commit         previous := running, running := candidate, daemons switched, verified (each CA's wpa_supplicant
 *                  answers on its control interface with the right CKN; a secured port moves to a new CA only once
 *                  that CA is secured), and a confirm timer armed on the device: unless confirm() comes in time,
 *                  the device restores previous/ by itself (like NETCONF's confirmed commit). A failure anywhere
 *                  restores previous/ at once and the commit is refused.
 *   confirm        disarms the timer and stops the CAs the configuration no longer has (the old key after rotation)
 *   rollback       restores previous/ (committed, unconfirmed) and drops the candidate
 * Status comes from wpa_cli status (MKA) and `ip -s macsec show` (SAs, key number, peer SCI, counters).
 */
export const name = "linux-macsec";
export const flags: DriverFlags = { writable: true, candidate: true, confirmedCommit: true, rollback: true, verifiedWrites: true };

export { parseIpMacsecShow } from "./parsers/ip-macsec-show.js";
export { parseWpaCliStatus } from "./parsers/wpa-cli-status.js";

interface CaStatus {
  port: number;
  primary: boolean;
  ckn: string;
  wpa: WpaMkaStatus | undefined;
  secyName: string | undefined;
  secy: MacsecSecy | undefined;
}

/** Pure: the agent's `status` output for every port -> per port, its CAs. */
export function parseAgentStatus(out: string): Map<string, { cas: CaStatus[]; activeSlave: string | undefined }> {
  const ports = new Map<string, { cas: CaStatus[]; activeSlave: string | undefined }>();
  for (const chunk of out.split(/^#### port /m).slice(1)) {
    const nl = chunk.indexOf("\n");
    const port = chunk.slice(0, nl < 0 ? undefined : nl).trim();
    const cas: CaStatus[] = [];
    let active: string | undefined;
    for (const sec of chunk.split(/^### /m).slice(1)) {
      const eol = sec.indexOf("\n");
      const head = (eol < 0 ? sec : sec.slice(0, eol)).trim().split(/\s+/);
      const body = eol < 0 ? "" : sec.slice(eol + 1);
      if (head[0] === "ca") {
        const n = Number(head[1]);
        cas.push({
          port: n,
          primary: Number(head[2]) === n,
          ckn: head[3] ?? "",
          wpa: /DAEMON=stopped/.test(body) ? undefined : parseWpaCliStatus(body),
          secyName: undefined,
          secy: undefined,
        });
      } else if (head[0] === "secy") {
        const ca = cas.find((c) => c.port === Number(head[1]));
        if (ca) {
          ca.secyName = head[2];
          ca.secy = parseIpMacsecShow(body);
        }
      } else if (head[0] === "bond") active = head[1];
    }
    ports.set(port, { cas, activeSlave: active });
  }
  return ports;
}

/** Pure: one port's link-security state from its CAs (the primary CA decides). */
export function portState(port: string, cas: CaStatus[], now: string): LinkSecurityState {
  const ca = cas.find((c) => c.primary) ?? cas[0];
  if (!ca) return { port, status: "unsecured", detail: "no MACsec configured on this port", observedAt: now };
  const ckn = `${ca.ckn.slice(0, 8)}…`;
  if (!ca.wpa)
    return { port, status: "unsecured", detail: `wpa_supplicant for CA ${ckn} (SCI port ${ca.port}) is not running`, observedAt: now };
  const s = ca.secy;
  const txSa = s?.txSas.find((x) => x.an === s.encodingSa && x.on);
  const peers = (s?.rxScs ?? []).filter((r) => r.on && r.sas.some((x) => x.on));
  const others = cas
    .filter((c) => c !== ca)
    .map((c) => `also CA ${c.ckn.slice(0, 8)}… on SCI port ${c.port}: ${c.wpa?.secured ? "secured" : c.wpa ? "not secured" : "stopped"}`);
  const counters: Record<string, number | string> = {
    ckn: ca.ckn.slice(0, 16),
    sciPort: ca.port,
    ...(txSa ? { keyNumber: txSa.keyNumber, encodingAn: txSa.an, keyIdentifier: txSa.keyId } : {}),
    ...(peers.length ? { peerSci: peers.map((p) => p.sci).join(",") } : {}),
    ...(s?.counters.InPktsOK !== undefined ? { InPktsOK: s.counters.InPktsOK } : {}),
    ...(s?.counters.OutPktsEncrypted !== undefined ? { OutPktsEncrypted: s.counters.OutPktsEncrypted } : {}),
    ...(s?.counters.InPktsNotValid !== undefined ? { InPktsNotValid: s.counters.InPktsNotValid } : {}),
    ...(ca.wpa.keysDistributed !== undefined ? { keysDistributed: ca.wpa.keysDistributed } : {}),
    ...(ca.wpa.keysReceived !== undefined ? { keysReceived: ca.wpa.keysReceived } : {}),
    ...(s?.offload ? { offload: s.offload } : {}),
    ...(ca.wpa.fields.live_peers !== undefined ? { mkaLivePeers: Number(ca.wpa.fields.live_peers) } : {}),
    ...(ca.wpa.fields.key_server_sci ? { keyServerSci: ca.wpa.fields.key_server_sci } : {}),
  };
  const secured = ca.wpa.secured && !!txSa && peers.length > 0;
  const role =
    (ca.wpa.keysDistributed ?? 0) > 0
      ? "key server (distributed the SAK)"
      : (ca.wpa.keysReceived ?? 0) > 0
        ? "received the SAK from the key server"
        : "no SAK yet";
  const peerScis = peers.map((p) => p.sci).join(", ");
  const othersText = others.length ? `; ${others.join("; ")}` : "";
  const peerText = peers.length ? `peer SCI ${peerScis}` : "no MKA peer";
  const failedText = ca.wpa.failed ? ", Failed=Yes" : "";
  const detail = secured
    ? `MKA secured on CA ${ckn} (SecY ${ca.secyName}, SCI port ${ca.port}): ` +
      `MKA peer SCI ${peerScis} (${ca.wpa.fields.live_peers ?? "?"} live), key server ${ca.wpa.fields.key_server_sci ?? "?"}, ` +
      `key number ${txSa!.keyNumber} on AN ${txSa!.an}, ${role}, ` +
      `InPktsOK ${s!.counters.InPktsOK ?? 0}, OutPktsEncrypted ${s!.counters.OutPktsEncrypted ?? 0}, offload ${s!.offload ?? "?"}${othersText}`
    : `MKA not secured on CA ${ckn} (SCI port ${ca.port}): KaY ${ca.wpa.kayActive ? "active" : "inactive"}, ` +
      `Secured=${ca.wpa.fields.Secured ?? "?"}, ${peerText}${failedText}${othersText}`;
  return {
    port,
    status: secured ? "secured" : ca.wpa.failed ? "unsecured" : "pending",
    ...(s?.cipher ? { cipher: s.cipher } : {}),
    counters,
    detail,
    observedAt: now,
  };
}

export function create(ctx: DriverContext): Driver {
  const o = linuxMacsecOptions(ctx.profile, ctx.device);
  let conn: SshConnection | undefined;
  let staged: PortCandidate[] | undefined;
  let committed: PortCandidate[] | undefined;
  const ssh = async () => (conn ??= await ctx.ssh());
  const fail = (operation: string, msg: string) =>
    new CommitError(`${ctx.device}: ${operation}: ${msg}`, { device: ctx.device, driver: name, operation });
  /** One round trip: write the agent, then run it (or a loop of it); secrets travel on stdin only. */
  const agent = async (operation: string, body: string, timeoutMs = ctx.commandTimeoutMs): Promise<string> => {
    const script = `mkdir -p ${o.stateDir} && chmod 700 ${o.stateDir} && cat > ${o.stateDir}/agent.sh <<'LCAGENT_EOF'\n${agentScript(o)}LCAGENT_EOF\n${body}\n`;
    const r = await (await ssh()).exec("sh -s", timeoutMs, script);
    if (r.code !== 0)
      throw fail(operation, maskCak((r.stderr.trim() || r.stdout.trim() || `exit ${r.code}`).split("\n").slice(-3).join(" ")));
    return r.stdout;
  };
  const run = (op: string, port: string, args: string[] = [], timeoutMs?: number) =>
    agent(op, `sh ${o.stateDir}/agent.sh ${op} ${port} ${args.join(" ")}`, timeoutMs);
  const unsupported = (msg: string) =>
    new UnsupportedError(`${ctx.device}: ${msg}`, { device: ctx.device, driver: name, operation: "loadCandidate" });
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
      const out = await agent(
        "facts",
        [
          'echo "### uname $(uname -r)"',
          'echo "### wpa $(wpa_supplicant -v 2>/dev/null | head -1)"',
          `for i in $(ls ${o.stateDir} 2>/dev/null); do [ -d ${o.stateDir}/$i/running ] && echo "### port $i"; done`,
          "for i in $(ls /sys/class/net); do [ $i = lo ] && continue; echo \"### offload $i $(ethtool -k $i 2>/dev/null | sed -n 's/^macsec-hw-offload: //p')\"; done",
        ].join("; "),
      );
      const lines = out.split("\n");
      const val = (k: string) =>
        lines
          .find((l) => l.startsWith(`### ${k} `))
          ?.slice(k.length + 5)
          .trim();
      const offload = lines
        .filter((l) => l.startsWith("### offload "))
        .map((l) => l.slice(12).trim())
        .filter((l) => /\s/.test(l));
      return {
        device: ctx.device,
        driver: name,
        reachable: true,
        observedAt: ctx.now().toISOString(),
        system: {
          version: `Linux ${val("uname") ?? "?"}, ${val("wpa") || "no wpa_supplicant"}`,
          description: `macsec-hw-offload: ${offload.join(", ") || "none reported"}; profile offload: ${o.macsecOffload}`,
        },
        macsecInterfaces: lines.filter((l) => l.startsWith("### port ")).map((l) => l.slice(9).trim()),
      };
    },
    async linkSecurity(): Promise<LinkSecurityState[]> {
      const out = await agent(
        "status",
        `for i in $(ls ${o.stateDir} 2>/dev/null); do [ -d ${o.stateDir}/$i/running ] && { echo "#### port $i"; sh ${o.stateDir}/agent.sh status $i; }; done; true`,
      );
      let ports: ReturnType<typeof parseAgentStatus>;
      try {
        ports = parseAgentStatus(out);
      } catch (e) {
        throw new ProtocolError(`${ctx.device}: the MACsec status could not be read: ${(e as Error).message}`, {
          device: ctx.device,
          driver: name,
          operation: "linkSecurity",
          cause: e,
        });
      }
      const now = ctx.now().toISOString();
      return [...ports.entries()].map(([port, p]) => portState(port, p.cas, now));
    },
    async loadCandidate(change: ConfigChange) {
      if (change.kind !== "macsec")
        throw new UnsupportedError(`${ctx.device}: ${name} handles MACsec changes, not ${change.kind}`, {
          device: ctx.device,
          driver: name,
          operation: "loadCandidate",
        });
      const c: MacsecChange = change;
      if (!o.suites.includes(c.policy.suite))
        throw unsupported(
          `cipher suite ${c.policy.suite} is not available: this device's wpa_supplicant offers ${o.suites.join(", ")}; nothing was sent`,
        );
      if (!c.policy.includeSci)
        throw unsupported(
          "wpa_supplicant's macsec_linux driver always sends the SCI; a plan without it cannot be applied here; nothing was sent",
        );
      const cakHex = c.keychain.cryptoAlgorithm === "AES_256_CMAC" ? 64 : 32;
      for (const k of [c.keychain, ...(c.keychain.nextKey ? [c.keychain.nextKey] : [])]) {
        if (!/^[0-9a-f]+$/i.test(k.cak) || k.cak.length !== cakHex)
          throw unsupported(`a CAK for ${c.keychain.cryptoAlgorithm} is ${cakHex} hex digits`);
        if (!/^[0-9a-f]{2,64}$/i.test(k.ckn) || k.ckn.length % 2) throw unsupported("a CKN is 1 to 32 bytes of hex");
      }
      for (const i of c.interfaces) {
        checkPortName(i.name, ctx.device);
        if (!Number.isInteger(i.replayWindow) || i.replayWindow < 0)
          throw unsupported(`replay window ${i.replayWindow} is not a count of packets`);
      }
      if (staged) await this.rollback();
      const running = new Map<string, { port: number; ckn: string }[]>();
      for (const i of c.interfaces) {
        const out = await run("cas", i.name);
        running.set(
          i.name,
          out
            .split("\n")
            .filter(Boolean)
            .map((l) => ({ port: Number(l.split(" ")[0]), ckn: l.split(" ")[1] ?? "" })),
        );
      }
      const cand = planPorts(c, running, o);
      const body = cand.map((p) => {
        const dir = `${o.stateDir}/${p.port}/candidate`;
        return [
          `rm -rf ${dir} && mkdir -p ${dir}`,
          ...p.cas.map((ca) => `cat > ${dir}/ca-${ca.port}.conf <<'LCCA_EOF'\n${ca.text}LCCA_EOF`),
          `echo ${p.primary} > ${dir}/primary`,
          `sh ${o.stateDir}/agent.sh stage ${p.port}`,
        ].join("\n");
      });
      await agent("loadCandidate", body.join("\n"));
      staged = cand;
    },
    async diff() {
      if (!staged) return "";
      const parts: string[] = [];
      for (const p of staged) {
        const [a, b] = await Promise.all([run("dump", p.port, ["running"]), run("dump", p.port, ["candidate"])]);
        const d = lineDiff(a.split("\n").filter(Boolean), b.split("\n").filter(Boolean));
        if (d.length) parts.push(`${p.port}:`, ...d.map(maskCak));
      }
      return parts.join("\n");
    },
    async commit({ confirmTimeoutS, token }) {
      if (!staged)
        throw new UnsupportedError(`${ctx.device}: nothing staged to commit`, { device: ctx.device, driver: name, operation: "commit" });
      const t = (token ?? `linkcrypt-${randomUUID()}`).replace(/[^A-Za-z0-9._-]/g, "-");
      const ports = staged;
      const done: PortCandidate[] = [];
      try {
        for (const p of ports) {
          await run(
            "commit",
            p.port,
            [t, String(Math.max(1, Math.round(confirmTimeoutS))), String(o.switchoverWaitS)],
            ctx.commandTimeoutMs + o.switchoverWaitS * 1000,
          );
          done.push(p);
        }
      } catch (e) {
        // the failed port restored itself; ports already switched go back too
        for (const p of done) await run("rollback", p.port).catch(() => undefined);
        staged = undefined;
        throw e;
      }
      committed = ports;
      staged = undefined;
    },
    async confirm() {
      if (!committed)
        throw new UnsupportedError(`${ctx.device}: nothing to confirm`, { device: ctx.device, driver: name, operation: "confirm" });
      for (const p of committed) await run("confirm", p.port);
      committed = undefined;
    },
    async rollback() {
      const ports = [...(committed ?? []), ...(staged ?? [])];
      committed = undefined;
      staged = undefined;
      // a confirm timer that already fired leaves nothing pending; rollback then only drops the candidate
      for (const p of ports) await run("rollback", p.port);
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
};
