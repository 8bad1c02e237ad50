import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import type { MeshPlan } from "../planner/plan-types.js";
import { connToVici, renderSwanctlConf, renderSwanctlSecrets, shuntToVici } from "../render/swanctl.js";
import type { ViciClient } from "../transport/vici.js";
import { connName, meshConnSpecs, meshShuntSpecs, type ConnSpec, type ConnSpecOptions, type ShuntSpec } from "../planner/conn-spec.js";
import type { HostAccess } from "./host-access.js";
import { issueHostCert } from "./certs.js";
import { derivePairPsk } from "./psk.js";
import { readSaTable, type HostSaTable } from "./sa-table.js";
import { lineDiff } from "../util/line-diff.js";

/**
 * Delivers a mesh plan without disruption: per host, load the pair PSKs, load only connections that are new or
 * changed, terminate and unload only connections to peers that left, and write the swanctl files atomically.
 * Never flushes, never restarts charon.
 *
 * Fail closed (docs/mesh.md): every pair's drop shunt (`block-<peer>`) is loaded before its ESP connection and
 * unloaded after it, so from delivery on the kernel always holds either the pair's ESP policy or its drop policy.
 * Responder connections are loaded everywhere before initiator ones (which trap, and which delivery then initiates),
 * so no initiation races a peer that has not loaded its side yet. A departed peer's PSK is unloaded too.
 */
export const CONF_FILE = "linkcrypt-mesh.conf";
export const SECRETS_FILE = "linkcrypt-secrets.conf";
export const STATE_FILE = "linkcrypt-mesh.json";

export interface HostDelivery {
  host: string;
  loaded: string[];
  unloaded: string[];
  /** PSKs of departed peers, unloaded from charon (VICI unload-shared ids). */
  secretsUnloaded: string[];
  unchanged: string[];
  error?: string;
}

function specHash(c: ConnSpec | ShuntSpec): string {
  return createHash("sha256").update(JSON.stringify(c)).digest("hex").slice(0, 16);
}

interface HostPlan {
  access: HostAccess;
  specs: ConnSpec[];
  shunts: ShuntSpec[];
  secrets: { name: string; ids: [string, string]; secret: string }[];
  cert?: { certPem: string; keyPem: string };
}

/** How the mesh authenticates: per-pair PSKs from a master secret, or certificates from the inventory CA. */
export type MeshAuth = { kind: "psk"; master: Buffer } | { kind: "cert"; ca: { certPem: string; keyPem: string } };

export async function deliverMesh(
  mesh: MeshPlan,
  hosts: readonly HostAccess[],
  auth: MeshAuth,
  o: ConnSpecOptions & { waitMs?: number; onProgress?: (line: string) => void } = {},
): Promise<{ hosts: HostDelivery[]; pairsUp: number; pairsExpected: number; tables: HostSaTable[] }> {
  const clients = new Map<string, ViciClient>();
  const versions = new Map<string, string>();
  await Promise.all(
    hosts.map(async (h) => {
      try {
        const v = await h.vici();
        clients.set(h.name, v);
        versions.set(h.name, String((await v.request("version")).version ?? ""));
      } catch {
        /* reported per host below */
      }
    }),
  );
  let plans: HostPlan[];
  try {
    plans = hosts.map((access) => {
      const specs = meshConnSpecs(mesh, access.name, {
        ...o,
        ...(versions.get(access.name) ? { strongswanVersion: versions.get(access.name)! } : {}),
      });
      const secrets =
        auth.kind !== "psk"
          ? []
          : specs.map((s) => {
              const ids = [s.localId, s.remoteId].sort() as [string, string];
              return { name: `${ids[0]}-${ids[1]}`, ids, secret: derivePairPsk(auth.master, s.localId, s.remoteId) };
            });
      return { access, specs, shunts: meshShuntSpecs(specs), secrets };
    });
  } catch (e) {
    for (const v of clients.values()) v.close();
    throw e; // nothing was changed yet: the plan cannot be rendered for these daemons
  }
  const reports = new Map<string, HostDelivery>();
  const state = new Map<string, Record<string, string>>();
  try {
    // Phase 0: connect, read what is loaded, load secrets, drop connections to peers that left.
    await Promise.all(
      plans.map(async (p) => {
        const r: HostDelivery = { host: p.access.name, loaded: [], unloaded: [], secretsUnloaded: [], unchanged: [] };
        reports.set(p.access.name, r);
        try {
          const v = clients.get(p.access.name) ?? (await p.access.vici());
          clients.set(p.access.name, v);
          const prev = readDeliveryState(await p.access.readFile(join(p.access.confDir, STATE_FILE)));
          state.set(p.access.name, prev.conns);
          const { events } = await v.stream("list-conns", "list-conn");
          const loaded = new Set(events.flatMap((e) => Object.keys(e)));
          const wanted = new Set([...p.specs.map((s) => s.name), ...p.shunts.map((s) => s.name)]);
          for (const s of p.secrets)
            await v.request("load-shared", { id: `ike-${s.name}`, type: "IKE", data: s.secret, owners: [...s.ids] });
          // Shunts first: a pair whose ESP connection is about to load is never without a policy.
          for (const sh of p.shunts) {
            if (loaded.has(sh.name) && prev.conns[sh.name] === specHash(sh)) continue;
            await v.request("load-conn", shuntToVici(sh));
            r.loaded.push(sh.name);
          }
          if (auth.kind === "cert") {
            // Reuse the host's certificate if it has one, else issue it; then (re)load CA, certificate and key.
            const dir = dirname(p.access.confDir);
            const [certPem, keyPem] = await Promise.all([
              p.access.readFile(join(dir, "x509", `${p.access.name}.crt`)),
              p.access.readFile(join(dir, "ecdsa", `${p.access.name}.key`)),
            ]);
            p.cert = certPem && keyPem ? { certPem, keyPem } : issueHostCert(auth.ca, p.access.name);
            await v.request("load-cert", { type: "X509", flag: "CA", data: auth.ca.certPem });
            await v.request("load-cert", { type: "X509", flag: "NONE", data: p.cert.certPem });
            await v.request("load-key", { type: "ecdsa", data: p.cert.keyPem });
          }
          // Peers that left: their ESP connection goes first (the kernel falls back to the drop shunt), then the
          // shunt, then the pair's PSK, so no remaining charon holds a departed host's key.
          const gone = [...loaded]
            .filter((n) => (n.startsWith("mesh-") || n.startsWith("block-")) && !wanted.has(n))
            .sort((a, b) => (a.startsWith("mesh-") === b.startsWith("mesh-") ? (a < b ? -1 : 1) : a.startsWith("mesh-") ? -1 : 1));
          for (const name of gone) {
            if (name.startsWith("mesh-")) await v.request("terminate", { ike: name, force: "yes", timeout: "3000" }).catch(() => undefined);
            await v.request("unload-conn", { name });
            r.unloaded.push(name);
          }
          const keep = new Set(p.secrets.map((s) => `ike-${s.name}`));
          const held = await loadedSharedIds(v);
          for (const id of prev.secrets.filter((x) => !keep.has(x) && (held === undefined || held.has(x)))) {
            await v.request("unload-shared", { id });
            r.secretsUnloaded.push(id);
          }
          for (const s of p.specs) if (loaded.has(s.name) && prev.conns[s.name] === specHash(s)) r.unchanged.push(s.name);
        } catch (e) {
          r.error = (e as Error).message;
        }
      }),
    );
    // Phase 1 and 2: responder sides everywhere, then initiator sides (which trap, and are initiated below).
    for (const initiators of [false, true]) {
      await Promise.all(
        plans.map(async (p) => {
          const r = reports.get(p.access.name)!;
          const v = clients.get(p.access.name);
          if (!v || r.error) return;
          try {
            for (const s of p.specs) {
              if (s.initiator !== initiators || r.unchanged.includes(s.name)) continue;
              await v.request("load-conn", connToVici(s, p.cert?.certPem));
              r.loaded.push(s.name);
              // A trapping initiator negotiates on the first packet; start it now rather than wait for traffic.
              if (s.initiator)
                for (const ch of s.children)
                  await v.request("initiate", { child: ch.name, ike: s.name, timeout: "-1", "init-limits": "no" });
            }
          } catch (e) {
            r.error = (e as Error).message;
          }
        }),
      );
    }
    // Files last: what is on disk describes what is loaded.
    await Promise.all(
      plans.map(async (p) => {
        const r = reports.get(p.access.name)!;
        if (r.error) return;
        try {
          if (p.cert) {
            const dir = dirname(p.access.confDir);
            await p.access.writeFile(join(dir, "x509ca", "linkcrypt-ca.crt"), auth.kind === "cert" ? auth.ca.certPem : "", 0o644);
            await p.access.writeFile(join(dir, "x509", `${p.access.name}.crt`), p.cert.certPem, 0o644);
            await p.access.writeFile(join(dir, "ecdsa", `${p.access.name}.key`), p.cert.keyPem, 0o600);
          }
          await p.access.writeFile(join(p.access.confDir, SECRETS_FILE), renderSwanctlSecrets(p.secrets), 0o600);
          await p.access.writeFile(join(p.access.confDir, CONF_FILE), renderSwanctlConf(p.access.name, p.specs, p.shunts), 0o644);
          const conns = Object.fromEntries([...p.specs, ...p.shunts].map((s) => [s.name, specHash(s)]));
          await p.access.writeFile(
            join(p.access.confDir, STATE_FILE),
            `${JSON.stringify({ conns, secrets: p.secrets.map((s) => `ike-${s.name}`) })}\n`,
            0o644,
          );
        } catch (e) {
          r.error = `writing swanctl files: ${(e as Error).message}`;
        }
        o.onProgress?.(
          `${r.host}: loaded ${r.loaded.length}, unloaded ${r.unloaded.length}, unchanged ${r.unchanged.length}${r.error ? `, ERROR ${r.error}` : ""}`,
        );
      }),
    );
    const expected = plans.reduce((a, p) => a + p.specs.filter((s) => s.initiator).length, 0);
    const tables = await waitForPairs(plans, clients, o.waitMs ?? 20_000);
    return { hosts: [...reports.values()], pairsUp: countPairsUp(plans, tables), pairsExpected: expected, tables };
  } finally {
    for (const v of clients.values()) v.close();
  }
}

/** What `deliverMesh` would do on one host, found without changing anything on it. */
export interface HostDeliveryPreview {
  host: string;
  /** The swanctl.conf path, the file as delivery would write it, and its line diff against the file on the host. */
  confPath: string;
  rendered: string;
  /** `- line` removed, `+ line` added (src/util lineDiff over the non-empty lines); empty when the file is current. */
  diff: string[];
  /** Connections (ESP and drop shunts) delivery would load: new, changed, or not loaded in charon. */
  load: string[];
  /** mesh-/block- connections delivery would unload, because the plan no longer has their peer. */
  unload: string[];
  unchanged: string[];
  /** PSK ids (never the keys) delivery would load, and those of departed peers it would unload. */
  secretsLoad: string[];
  secretsUnload: string[];
  /** Why charon could not be asked (with `o.vici`); the file diff is still given. */
  error?: string;
}

/**
 * Dry run of `deliverMesh`: per host, the swanctl.conf it would write (shunts included) with its diff against the
 * file on the host, and the connections and PSK ids it would load and unload, by the same hash record of the last
 * delivery. Nothing is written, loaded or unloaded, and no secret is derived: PSK ids come from the specs.
 * Without `o.vici` only the host's files are read, and what is loaded is taken from the record; with it, charon is
 * asked read-only questions (version, list-conns, get-shared) so the preview matches what delivery would do, and
 * the specs are rendered for the charon version it reports, as delivery does.
 */
export async function previewMeshDelivery(
  mesh: MeshPlan,
  hosts: readonly HostAccess[],
  auth: Pick<MeshAuth, "kind">,
  o: ConnSpecOptions & { vici?: boolean } = {},
): Promise<HostDeliveryPreview[]> {
  return Promise.all(
    hosts.map(async (h): Promise<HostDeliveryPreview> => {
      let v: ViciClient | undefined;
      let error: string | undefined;
      let version: string | undefined;
      if (o.vici)
        try {
          v = await h.vici();
          version = String((await v.request("version")).version ?? "") || undefined;
        } catch (e) {
          error = (e as Error).message;
        }
      try {
        const specs = meshConnSpecs(mesh, h.name, { ...o, ...(version ? { strongswanVersion: version } : {}) });
        const shunts = meshShuntSpecs(specs);
        const confPath = join(h.confDir, CONF_FILE);
        const rendered = renderSwanctlConf(h.name, specs, shunts);
        const current = (await h.readFile(confPath).catch(() => undefined)) ?? "";
        const prev = readDeliveryState(await h.readFile(join(h.confDir, STATE_FILE)).catch(() => undefined));
        let loaded = new Set(Object.keys(prev.conns));
        let held: Set<string> | undefined;
        if (v && !error)
          try {
            const { events } = await v.stream("list-conns", "list-conn");
            loaded = new Set(events.flatMap((e) => Object.keys(e)));
            held = await loadedSharedIds(v);
          } catch (e) {
            error = (e as Error).message;
          }
        const wanted = [...shunts, ...specs];
        const names = new Set(wanted.map((c) => c.name));
        const isCurrent = (c: ConnSpec | ShuntSpec) => loaded.has(c.name) && prev.conns[c.name] === specHash(c);
        const secretIds =
          auth.kind !== "psk"
            ? []
            : specs.map((s) => {
                const ids = [s.localId, s.remoteId].sort();
                return `ike-${ids[0]}-${ids[1]}`;
              });
        const keep = new Set(secretIds);
        return {
          host: h.name,
          confPath,
          rendered,
          diff: lineDiff(current.split("\n").filter(Boolean), rendered.split("\n").filter(Boolean)),
          load: wanted.filter((c) => !isCurrent(c)).map((c) => c.name),
          unload: [...loaded].filter((n) => (n.startsWith("mesh-") || n.startsWith("block-")) && !names.has(n)).sort(),
          unchanged: specs.filter(isCurrent).map((c) => c.name),
          secretsLoad: secretIds,
          secretsUnload: prev.secrets.filter((x) => !keep.has(x) && (held === undefined || held.has(x))),
          ...(error ? { error } : {}),
        };
      } finally {
        v?.close();
      }
    }),
  );
}

/** What the last delivery left on a host: connection hashes and the PSK ids it loaded. */
function readDeliveryState(text: string | undefined): { conns: Record<string, string>; secrets: string[] } {
  try {
    const j = JSON.parse(text ?? "{}") as { conns?: unknown; secrets?: unknown };
    const conns = j.conns && typeof j.conns === "object" && !Array.isArray(j.conns) ? (j.conns as Record<string, string>) : {};
    const secrets = Array.isArray(j.secrets) ? j.secrets.filter((x): x is string => typeof x === "string") : [];
    return { conns, secrets };
  } catch {
    return { conns: {}, secrets: [] };
  }
}

/** The ids of the shared secrets charon holds (VICI get-shared, strongSwan >= 5.7), or undefined if unknown. */
export async function loadedSharedIds(v: ViciClient): Promise<Set<string> | undefined> {
  try {
    const r = await v.request("get-shared");
    return new Set(Array.isArray(r.keys) ? (r.keys as string[]) : []);
  } catch {
    return undefined;
  }
}

function countPairsUp(plans: HostPlan[], tables: HostSaTable[]): number {
  const byHost = new Map(tables.map((t) => [t.host, t]));
  let up = 0;
  for (const p of plans)
    for (const s of p.specs) {
      if (!s.initiator) continue;
      const mine = byHost.get(p.access.name)?.children.filter((c) => c.conn === s.name && c.state === "INSTALLED") ?? [];
      const theirs = byHost.get(s.peer)?.children.filter((c) => c.conn === connName(p.access.name) && c.state === "INSTALLED") ?? [];
      if (mine.some((m) => theirs.some((t) => t.spiIn === m.spiOut && t.spiOut === m.spiIn))) up++;
    }
  return up;
}

async function waitForPairs(plans: HostPlan[], clients: Map<string, ViciClient>, waitMs: number): Promise<HostSaTable[]> {
  const expected = plans.reduce((a, p) => a + p.specs.filter((s) => s.initiator).length, 0);
  const until = Date.now() + waitMs;
  for (;;) {
    const tables = await Promise.all([...clients.entries()].map(([h, v]) => readSaTable(h, v)));
    if (countPairsUp(plans, tables) >= expected || Date.now() > until) return tables;
    await new Promise((r) => setTimeout(r, 200));
  }
}
