import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";

/**
 * The wire, independently of linkcrypt: tcpdump on the kernel lab's bridge (inside the lab's namespace), and what
 * crossed it. A test that says "encrypted" asks this, not the controller.
 */
export const MARKER = "lk-marker-42";
export const MARKER_HEX = Buffer.from(MARKER).toString("hex");

export interface WireSummary {
  lines: string[];
  /** Packets between two mesh addresses with IP protocol 50 (ESP, not in UDP). */
  esp: number;
  /** ESP inside UDP 4500 (NAT-T encapsulation): none expected on this lab. */
  udpEncapEsp: number;
  /** Cleartext ICMP between mesh addresses (echo and anything else but the kernel's errors about IKE's ports). */
  clearIcmp: string[];
  /**
   * ICMP port-unreachable for IKE (UDP 500/4500) from a host whose charon is not listening yet (a reboot): control
   * plane, never data, and counted apart.
   */
  ikePortUnreachable: string[];
  /** Whether the ping marker's bytes appear anywhere in the capture (only a cleartext payload carries them). */
  markerSeen: boolean;
}

export interface CaptureOptions {
  /** tcpdump filter words (default ["ip"]; [] takes every frame: MACsec and EAPOL are their own EtherTypes). */
  filter?: string[];
  /** Bytes kept of each packet (default 512). */
  snaplen?: number;
}

export class Capture {
  private proc: ChildProcess | undefined;
  constructor(
    private readonly netns: string,
    readonly file: string,
    private readonly opts: CaptureOptions = {},
  ) {}

  async start(): Promise<void> {
    const args = ["netns", "exec", this.netns, "tcpdump", "-i", "br0", "-U", "-n", "-s", String(this.opts.snaplen ?? 512), "-w", this.file];
    const p = spawn("ip", [...args, ...(this.opts.filter ?? ["ip"])], { stdio: ["ignore", "ignore", "pipe"] });
    this.proc = p;
    await new Promise<void>((resolve, reject) => {
      let err = "";
      const t = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 10_000);
      p.stderr!.on("data", (d: Buffer) => {
        err += d.toString();
        if (err.includes("listening on")) {
          clearTimeout(t);
          resolve();
        }
      });
      p.on("exit", () => reject(new Error(`tcpdump exited: ${err}`)));
    });
  }

  /** Stop capturing (after a second, for the last replies still on their way); the pcap stays in `file`. */
  async end(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null) {
      await new Promise((r) => setTimeout(r, 1000));
      const done = new Promise((r) => p.on("exit", r));
      p.kill("SIGINT");
      await done;
    }
  }

  async stop(): Promise<WireSummary> {
    await this.end();
    return summarize(this.file);
  }
}

/** How many captured packets match a tcpdump filter expression. */
export function countMatching(file: string, filter: string): number {
  const r = spawnSync("tcpdump", ["-nn", "-r", file, filter], { encoding: "utf8", maxBuffer: 64 << 20 });
  return (r.stdout ?? "").split("\n").filter(Boolean).length;
}

/** Whether the ping marker's bytes appear anywhere in a capture (only a cleartext payload carries them). */
export function markerIn(file: string): boolean {
  return readFileSync(file).includes(Buffer.from(MARKER));
}

export function summarize(file: string, subnet = "10.77.0."): WireSummary {
  const r = spawnSync("tcpdump", ["-nn", "-r", file], { encoding: "utf8", maxBuffer: 256 << 20 });
  const lines = (r.stdout ?? "").split("\n").filter(Boolean);
  const between = (l: string) =>
    new RegExp(`IP ${subnet.replace(/\./g, "\\.")}\\d+(\\.\\d+)? > ${subnet.replace(/\./g, "\\.")}\\d+`).test(l);
  return {
    lines,
    esp: lines.filter((l) => between(l) && /: ESP\(spi=/.test(l) && !/UDP-encap/.test(l)).length,
    udpEncapEsp: lines.filter((l) => /UDP-encap: ESP/.test(l)).length,
    clearIcmp: lines.filter((l) => between(l) && /ICMP/.test(l) && !/udp port (500|4500) unreachable/.test(l)),
    ikePortUnreachable: lines.filter((l) => between(l) && /ICMP .*udp port (500|4500) unreachable/.test(l)),
    markerSeen: markerIn(file),
  };
}
