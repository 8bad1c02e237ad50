import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { agesAt } from "../metrics/key-ages.js";
import { collectSamples, prometheusText, type Sample } from "../metrics/metrics.js";
import type { ProfileSet } from "../model/load-profiles.js";
import { toolIdentity } from "../report/provenance.js";
import { buildReport } from "../report/report.js";
import { reportHtml } from "../report/render.js";
import { topologyFigures } from "../report/topology.js";
import type { Snapshot } from "./reconciler.js";

/**
 * serve's HTTP side: /metrics (Prometheus text, the one-shot `metrics` command's names from the same code plus
 * serve's own), /healthz (the process answers), /readyz (this replica leads and has verified once), /api/status
 * (`verify --json`'s schema) and / (the compliance report of the live status, refreshing itself, with serve's alerts
 * on top).
 */
export interface HttpSource {
  snapshot(): Snapshot;
  profiles(): ProfileSet | undefined;
}

export interface ServeHttpOptions {
  /** Seconds between the status page's refreshes. */
  refreshS: number;
  now?: () => number;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export function serveSamples(s: Snapshot, now: number): Sample[] {
  const out: Sample[] = [];
  const tool = toolIdentity();
  const inv = s.plan?.inventory ?? "";
  const g = (name: string, help: string, labels: Record<string, string>, value: number) =>
    out.push({ name, help, type: "gauge", labels, value });
  const c = (name: string, help: string, labels: Record<string, string>, value: number) =>
    out.push({ name, help, type: "counter", labels, value });
  g("linkcrypt_up", "1 while linkcrypt serve runs", { inventory: inv }, 1);
  g(
    "linkcrypt_build_info",
    "the running linkcrypt's version and commit (value 1)",
    { version: tool.version, commit: tool.commit ?? "unknown" },
    1,
  );
  g("linkcrypt_serve_leader", "1 when this replica leads (acts), 0 on standby", { inventory: inv }, s.role === "leader" ? 1 : 0);
  g(
    "linkcrypt_serve_start_time_seconds",
    "when this serve process started (Unix time)",
    { inventory: inv },
    Math.floor(s.startedAt / 1000),
  );
  for (const r of ["repaired", "failed", "found-up"])
    c(
      "linkcrypt_serve_repairs_total",
      "mesh pair repair runs, by result (found-up: a run taken over from a dead leader whose repair had taken effect)",
      { inventory: inv, result: r },
      s.counters.repairs[r] ?? 0,
    );
  for (const k of ["repair", "verify", "watch", "journal", "auto-apply"])
    c(
      "linkcrypt_serve_failures_total",
      "failures, by kind: repair runs that gave up, verify runs that failed, VICI event streams lost, journal writes, --auto-apply actions",
      { inventory: inv, kind: k },
      s.counters.failures[k] ?? 0,
    );
  for (const k of ["global", "host"])
    c(
      "linkcrypt_serve_breaker_trips_total",
      "times a circuit breaker opened (global: too many pairs broken at once; host: a host kept failing)",
      { inventory: inv, scope: k },
      s.counters.breakerTrips[k] ?? 0,
    );
  for (const ev of ["ike-updown", "child-updown", "child-rekey"])
    c(
      "linkcrypt_serve_vici_events_total",
      "VICI events received from the mesh hosts",
      { inventory: inv, event: ev },
      s.counters.events[ev] ?? 0,
    );
  for (const r of ["ok", "failed"])
    c(
      "linkcrypt_serve_device_checks_total",
      "periodic checks of switches and L1 encryptors between full verifies, by result",
      { inventory: inv, result: r },
      s.counters.deviceChecks[r] ?? 0,
    );
  for (const d of s.devices)
    g(
      "linkcrypt_serve_device_up",
      "1 when the device's last periodic check read it, 0 when that check failed",
      { inventory: inv, device: d.name, kind: d.kind },
      d.ok ? 1 : 0,
    );
  for (const kind of ["plan-pending", "drift", "rotate"])
    for (const result of ["done", "failed"])
      c(
        "linkcrypt_serve_auto_actions_total",
        "--auto-apply actions by kind (plan-pending: a new plan applied; drift: a plan re-applied; rotate: a key rotated at its policy's age) and result",
        { inventory: inv, kind, result },
        s.counters.autoActions[`${kind}|${result}`] ?? 0,
      );
  g("linkcrypt_serve_auto_apply", "1 when serve runs with --auto-apply", { inventory: inv }, s.autoApply ? 1 : 0);
  c("linkcrypt_serve_vici_reconnects_total", "VICI event streams re-established after a loss", { inventory: inv }, s.counters.reconnects);
  g(
    "linkcrypt_serve_breaker_open",
    "1 while a circuit breaker is open: serve does not act there (an alert)",
    { inventory: inv, scope: "global", host: "" },
    s.breakers.some((b) => b.scope === "global") ? 1 : 0,
  );
  for (const b of s.breakers.filter((x) => x.scope === "host"))
    g(
      "linkcrypt_serve_breaker_open",
      "1 while a circuit breaker is open: serve does not act there (an alert)",
      { inventory: inv, scope: "host", host: b.host ?? "" },
      1,
    );
  for (const w of s.watching)
    g(
      "linkcrypt_serve_vici_connected",
      "1 while the host's VICI event stream is connected",
      { inventory: inv, host: w.host },
      w.connected ? 1 : 0,
    );
  for (const l of s.lastOk)
    g(
      "linkcrypt_last_success_timestamp_seconds",
      "when a check of this link, pair or device last succeeded (Unix time)",
      { inventory: inv, kind: l.kind, name: l.name },
      Math.floor(l.at / 1000),
    );
  g(
    "linkcrypt_serve_plan_pending",
    "1 when the inventory on disk differs from the plan serve runs with (never applied by serve)",
    { inventory: inv },
    s.planPending ? 1 : 0,
  );
  if (s.lastVerifyAt !== undefined)
    g(
      "linkcrypt_serve_last_verify_timestamp_seconds",
      "when serve's last full verify finished (Unix time)",
      { inventory: inv },
      Math.floor(s.lastVerifyAt / 1000),
    );
  void now;
  return out;
}

export function metricsText(s: Snapshot, now: number): string {
  const base = s.plan
    ? collectSamples(
        s.plan,
        s.status,
        agesAt(s.keyAges, now),
        s.status ? { collectedAt: s.status.observedAt, now: new Date(now) } : undefined,
      )
    : [];
  return prometheusText([...base, ...serveSamples(s, now)]);
}

/** The status page: the compliance report of the live status, a banner with serve's role and alerts, refreshing. */
export async function statusPage(s: Snapshot, profiles: ProfileSet | undefined, o: ServeHttpOptions): Promise<string> {
  const now = o.now?.() ?? Date.now();
  const alerts = s.breakers
    .map(
      (b) =>
        `<p class="alert" data-alert="${esc(b.scope)}">⚠ CIRCUIT BREAKER OPEN${b.host ? ` for ${esc(b.host)}` : ""}: ${esc(b.reason)} (since ${esc(new Date(b.since).toISOString())})</p>`,
    )
    .join("");
  const leader = s.leaderHolder ? ` (leader: ${esc(s.leaderHolder)})` : "";
  const lastVerify = s.lastVerifyAt
    ? `${esc(new Date(s.lastVerifyAt).toISOString())}, ${Math.round((now - s.lastVerifyAt) / 1000)} s ago`
    : "not yet";
  const pending = s.planPending ? `<p class="pending">Plan pending: ${esc(s.planPending)}</p>` : "";
  const banner =
    `<div id="serve" data-role="${s.role}"><b>linkcrypt serve</b>: ${s.role}${leader}; last verify ${lastVerify}; ` +
    `this page refreshes every ${o.refreshS} s.${pending}${alerts}</div>`;
  const head =
    `<meta http-equiv="refresh" content="${o.refreshS}"><style>#serve{border:2px solid #333;padding:6px 10px;margin:0 0 10px}` +
    "#serve .alert{color:#900;font-weight:bold;border:2px solid #900;padding:4px}</style>";
  if (!s.plan || !profiles || !s.status) {
    const headline =
      s.role === "leader"
        ? "Verifying: the first results appear on the next refresh."
        : "This replica stands by; the leader serves the status.";
    return (
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>linkcrypt serve</title>${head}</head>` +
      `<body>${banner}<p id="headline">${headline}</p></body></html>\n`
    );
  }
  const json = JSON.stringify(s.status);
  const r = buildReport(s.plan, profiles, {
    generatedAt: new Date(now).toISOString(),
    tool: toolIdentity(),
    verify: {
      report: s.status,
      provenance: {
        file: "(live: linkcrypt serve)",
        sha256: createHash("sha256").update(json).digest("hex"),
        inventory: s.status.inventory ?? null,
        inventoryDigest: s.status.plan.inventoryDigest,
        generator: s.status.generator ?? null,
        startedAt: s.status.startedAt ?? null,
        collectedAt: s.status.observedAt,
        ageHours: Math.round(((now - Date.parse(s.status.observedAt)) / 3_600_000) * 100) / 100,
        maxAgeHours: 1,
        stale: now - Date.parse(s.status.observedAt) > 3_600_000,
        inventoryChanged: false,
        warnings: [],
      },
    },
  });
  const html = reportHtml(r, await topologyFigures(r));
  return html.replace("<head>", `<head>${head}`).replace(/<body>/, `<body>${banner}`);
}

export function startHttp(src: HttpSource, listen: { host: string; port: number }, o: ServeHttpOptions): Promise<Server> {
  let page: { key: string; html: string } | undefined;
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://x");
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { "content-type": type, "cache-control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "text/plain", "GET only\n");
    const s = src.snapshot();
    switch (url.pathname) {
      case "/metrics":
        return send(200, "text/plain; version=0.0.4; charset=utf-8", metricsText(s, o.now?.() ?? Date.now()));
      case "/healthz":
        return send(200, "text/plain", `ok ${s.role}\n`);
      case "/readyz":
        return s.ready
          ? send(200, "text/plain", "ready: leading, verified\n")
          : send(503, "text/plain", s.role === "leader" ? "not ready: first verify running\n" : `not ready: ${s.role}\n`);
      case "/api/status":
        return s.status
          ? send(200, "application/json", `${JSON.stringify(s.status, null, 2)}\n`)
          : send(
              503,
              "application/json",
              `${JSON.stringify({ error: { code: "E_NOT_READY", message: s.role === "leader" ? "the first verify is running" : `this replica is ${s.role}; ask the leader` } })}\n`,
            );
      case "/": {
        // Rendering (topology included) once per change of what it shows; the banner's clock is per request.
        const key = `${s.role}|${s.status?.observedAt}|${s.lastVerifyAt}|${JSON.stringify(s.breakers)}|${s.planPending}|${Math.floor((o.now?.() ?? Date.now()) / 5000)}`;
        if (page?.key !== key) page = { key, html: await statusPage(s, src.profiles(), o) };
        return send(200, "text/html; charset=utf-8", page.html);
      }
      default:
        return send(404, "text/plain", "not found: /, /metrics, /healthz, /readyz, /api/status\n");
    }
  };
  const server = createServer((req, res) => {
    handler(req, res).catch((e: Error) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end(`internal error: ${e.message}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}
