import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { connName } from "../src/planner/conn-spec.js";
import type { HostAccess } from "../src/mesh/host-access.js";
import type { MeshPlan } from "../src/planner/plan-types.js";
import { decodeMessage, encodeMessage, ViciClient, type ViciMessage } from "../src/transport/vici.js";

/**
 * FAKE VICI peers, for tests and the serve bench only: one in-process UNIX-socket server per synthetic host that
 * speaks enough of charon's VICI (event register/unregister, list-sas, stats, initiate, terminate) for serve to
 * watch, check and repair a mesh. A pair is one shared record, so both sides always agree unless a test breaks one
 * side (`dropSide`: a half pair) or the pair (`dropPair`: down on both). Every change sends child-updown to the hosts
 * that registered for it, as charon does. Nothing here is strongSwan; results from it are labelled as fakes.
 */
export class FakeViciMesh {
  readonly hosts: string[];
  private readonly servers: Server[] = [];
  private readonly subs = new Map<string, Map<Socket, Set<string>>>();
  private readonly known: Set<string>;
  /** Sides without their CHILD_SA, as "host>peer"; every other side of the full mesh is up (kept small at 1,000 hosts). */
  private readonly down = new Set<string>();
  /** Per pair, how often it was re-established: its SPIs derive from the pair and this. */
  private readonly gen = new Map<string, number>();
  /** When each `initiate` arrived, per pair (the bench's reaction figure). */
  readonly initiated: { pair: string; at: number }[] = [];
  /** Hosts whose charon answers nothing (connections refused). */
  readonly dead = new Set<string>();

  constructor(
    readonly dir: string,
    hosts: string[],
  ) {
    this.hosts = hosts;
    this.known = new Set(hosts);
  }

  static key(a: string, b: string): string {
    return a < b ? `${a}~${b}` : `${b}~${a}`;
  }

  socketOf(h: string): string {
    return join(this.dir, `${h}.vici`);
  }

  async start(): Promise<void> {
    await Promise.all(
      this.hosts.map(
        (h) =>
          new Promise<void>((resolve, reject) => {
            const srv = createServer((s) => this.session(h, s));
            srv.once("error", reject);
            srv.listen(this.socketOf(h), () => resolve());
            this.servers.push(srv);
          }),
      ),
    );
  }

  async stop(): Promise<void> {
    for (const m of this.subs.values()) for (const s of m.keys()) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
  }

  /** Every pair of the full mesh established (the initial state). */
  establishAll(): void {
    this.down.clear();
  }

  private spis(a: string, b: string): [string, string] {
    const k = FakeViciMesh.key(a, b);
    const base = `${k}#${this.gen.get(k) ?? 0}`;
    const h = (s: string) => {
      let x = 0x811c9dc5;
      for (let i = 0; i < s.length; i++) x = Math.imul(x ^ s.charCodeAt(i), 0x01000193) >>> 0;
      return (x | 0xc0000000) >>> 0;
    };
    return [h(`${base}<`).toString(16), h(`${base}>`).toString(16)];
  }

  establish(a: string, b: string, notify = true): void {
    const k = FakeViciMesh.key(a, b);
    this.gen.set(k, (this.gen.get(k) ?? 0) + 1);
    this.down.delete(`${a}>${b}`);
    this.down.delete(`${b}>${a}`);
    if (notify) {
      this.emit(a, "child-updown", updown(b, true));
      this.emit(b, "child-updown", updown(a, true));
    }
  }

  /** The pair goes down on both sides (child-updown to both). */
  dropPair(a: string, b: string): void {
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const)
      if (this.dropOne(x, y)) this.emit(x, "child-updown", updown(y, false));
  }

  private dropOne(x: string, y: string): boolean {
    if (this.down.has(`${x}>${y}`)) return false;
    this.down.add(`${x}>${y}`);
    return true;
  }

  /** Only `a` loses its SA with `b` (a half pair); child-updown to `a` alone. */
  dropSide(a: string, b: string): void {
    if (this.dropOne(a, b)) this.emit(a, "child-updown", updown(b, false));
  }

  /** The host's charon dies: its sessions close and it refuses connections until `revive`. */
  kill(h: string): void {
    this.dead.add(h);
    for (const s of this.subs.get(h)?.keys() ?? []) s.destroy();
    this.subs.delete(h);
  }

  revive(h: string): void {
    this.dead.delete(h);
  }

  isUp(a: string, b: string): boolean {
    return !this.down.has(`${a}>${b}`) && !this.down.has(`${b}>${a}`);
  }

  private emit(h: string, event: string, msg: ViciMessage): void {
    for (const [s, evs] of this.subs.get(h) ?? []) if (evs.has(event)) s.write(packet(7, event, msg));
  }

  private session(h: string, s: Socket): void {
    if (this.dead.has(h)) {
      s.destroy();
      return;
    }
    let buf = Buffer.alloc(0);
    s.on("error", () => undefined);
    s.on("close", () => this.subs.get(h)?.delete(s));
    s.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const n = buf.readUInt32BE(0);
        const p = buf.subarray(4, 4 + n);
        buf = buf.subarray(4 + n);
        const type = p[0]!;
        const name = p.subarray(2, 2 + p[1]!).toString();
        const body = decodeMessage(p.subarray(2 + p[1]!));
        if (type === 3 || type === 4) {
          const m = this.subs.get(h) ?? new Map<Socket, Set<string>>();
          this.subs.set(h, m);
          const evs = m.get(s) ?? new Set<string>();
          m.set(s, evs);
          if (type === 3) evs.add(name);
          else evs.delete(name);
          s.write(packet(5));
        } else if (type === 0) this.command(h, s, name, body);
      }
    });
  }

  private command(h: string, s: Socket, cmd: string, body: ViciMessage): void {
    const ok = (m: ViciMessage = {}) => s.write(packet(1, undefined, { success: "yes", ...m }));
    switch (cmd) {
      case "list-sas": {
        const listening = this.subs.get(h)?.get(s)?.has("list-sa");
        const only = typeof body.ike === "string" ? [String(body.ike).slice("mesh-".length)].filter((x) => this.known.has(x)) : this.hosts;
        for (const peer of only) {
          if (peer === h || this.down.has(`${h}>${peer}`) || !listening) continue;
          // A side whose peer dropped its SA keeps its own SPIs: a half pair.
          const [lo, hi] = this.spis(h, peer);
          const [mine, theirs] = h < peer ? [lo, hi] : [hi, lo];
          const cn = connName(peer);
          s.write(
            packet(7, "list-sa", {
              [cn]: {
                state: "ESTABLISHED",
                "child-sas": {
                  [`${cn}-1`]: {
                    name: cn,
                    state: "INSTALLED",
                    "spi-in": mine,
                    "spi-out": theirs,
                    "bytes-in": "100",
                    "bytes-out": "100",
                    "packets-in": "1",
                    "packets-out": "1",
                    "use-in": "1",
                    "use-out": "1",
                    "install-time": "10",
                  },
                },
              },
            }),
          );
        }
        return void ok();
      }
      case "stats":
        return void ok({ ikesas: { total: "0", "half-open": "0" }, plugins: ["fake-vici"] });
      case "terminate": {
        const peer = String(body.ike ?? "").slice("mesh-".length);
        if (this.known.has(peer)) this.dropPair(h, peer);
        return void ok();
      }
      case "initiate": {
        const peer = String(body.ike ?? "").slice("mesh-".length);
        if (!this.known.has(peer) || this.dead.has(peer))
          return void s.write(packet(1, undefined, { success: "no", errmsg: "establishing CHILD_SA failed (fake peer)" }));
        this.initiated.push({ pair: FakeViciMesh.key(h, peer), at: performance.now() });
        this.establish(h, peer);
        return void ok();
      }
      default:
        return void s.write(packet(2));
    }
  }

  /** HostAccess for serve, over the fake sockets. */
  access(): HostAccess[] {
    return this.hosts.map((h) => ({
      name: h,
      confDir: this.dir,
      vici: () => ViciClient.connect({ device: h, socketPath: this.socketOf(h), timeoutMs: 5000 }),
      readFile: async () => undefined,
      writeFile: async () => undefined,
    }));
  }
}

function updown(peer: string, up: boolean): ViciMessage {
  const cn = connName(peer);
  return {
    ...(up ? { up: "yes" } : {}),
    [cn]: { state: "ESTABLISHED", "child-sas": { [`${cn}-1`]: { name: cn, state: up ? "INSTALLED" : "DELETING" } } },
  };
}

function packet(type: number, name?: string, msg?: ViciMessage): Buffer {
  const parts: Buffer[] = [Buffer.from([type])];
  if (name !== undefined) parts.push(Buffer.from([Buffer.byteLength(name)]), Buffer.from(name));
  if (msg) parts.push(encodeMessage(msg));
  const b = Buffer.concat(parts);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/**
 * A minimal mesh plan for the fakes (tests and the serve bench only): every member in one site and host class, every
 * pair ESP, so espPairs lists the full mesh. Not a planner result.
 */
export function fakeMeshPlan(name: string, hosts: readonly string[]): MeshPlan {
  return {
    name,
    pairs: (hosts.length * (hosts.length - 1)) / 2,
    members: hosts.map((h) => ({ name: h, site: "s", hostClass: "c" })),
    hostClasses: [{ id: "c" }],
    pathClasses: [{ id: "p", sitePairs: ["s~s"] }],
    pairClasses: [{ hostClasses: ["c", "c"], pathClass: "p", method: "esp", pairs: (hosts.length * (hosts.length - 1)) / 2 }],
    ike: { dpdSeconds: 30 },
  } as unknown as MeshPlan;
}
