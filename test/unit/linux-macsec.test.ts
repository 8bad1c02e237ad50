import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { MacsecChange } from "../../drivers/contract.js";
import { create, parseAgentStatus, portState } from "../../drivers/linux-macsec/index.js";
import { DEFAULTS, linuxMacsecOptions } from "../../drivers/linux-macsec/options.js";
import { parseIpMacsecShow } from "../../drivers/linux-macsec/parsers/ip-macsec-show.js";
import { parseWpaCliStatus } from "../../drivers/linux-macsec/parsers/wpa-cli-status.js";
import { agentScript, maskCak, planPorts } from "../../drivers/linux-macsec/render.js";
import { UnsupportedError } from "../../src/errors.js";

/** Fixtures captured in the kernel lab (Debian 6.12 kernel, iproute2 6.1, wpa_supplicant 2.10): see test/fixtures/linux-macsec/README.md. */
const fx = (f: string) => readFileSync(new URL(`../fixtures/linux-macsec/${f}`, import.meta.url), "utf8");
const CAK = "00112233445566778899aabbccddeeff";
const change = (o: Partial<MacsecChange["keychain"]> = {}): MacsecChange => ({
  kind: "macsec",
  policy: { name: "lc-l1", suite: "GCM-AES-128", includeSci: true, keyServerPriority: 16, sakRekeySeconds: 3600, mustSecure: true },
  keychain: { name: "lc-l1", ckn: "aa".repeat(32), cak: CAK, cryptoAlgorithm: "AES_128_CMAC", ...o },
  interfaces: [{ name: "mesh0", replayWindow: 64 }],
});

describe("linux-macsec: renderer", () => {
  it("renders one wpa_supplicant file per CA with the policy's settings; the CAK is masked in anything shown", () => {
    const [p] = planPorts(change(), new Map(), DEFAULTS);
    expect(p!.cas).toHaveLength(1);
    const t = p!.cas[0]!.text;
    for (const l of [
      "ctrl_interface=/run/linkcrypt-macsec/mesh0/p1",
      "\tmacsec_policy=1",
      "\tmacsec_integ_only=0",
      "\tmacsec_replay_protect=1",
      "\tmacsec_replay_window=64",
      "\tmacsec_port=1",
      "\tmka_priority=16",
      `\tmka_cak=${CAK}`,
    ])
      expect(t).toContain(l);
    expect(maskCak(t)).not.toContain(CAK);
    expect(planPorts({ ...change(), interfaces: [{ name: "mesh0", replayWindow: 0 }] }, new Map(), DEFAULTS)[0]!.cas[0]!.text).toContain(
      "macsec_replay_protect=0",
    );
  });

  it("rotation: a running CKN keeps its SCI port; the next key takes a free one; installing keeps the old key primary, retiring moves to the new", () => {
    const old = "aa".repeat(32);
    const next = { ckn: "bb".repeat(32), cak: "ff".repeat(16) };
    const running = new Map([["mesh0", [{ port: 2, ckn: old }]]]);
    const [install] = planPorts(change({ nextKey: next }), running, DEFAULTS);
    expect(install!.cas.map((c) => [c.port, c.ckn])).toEqual([
      [2, old],
      [1, next.ckn],
    ]);
    expect(install!.primary).toBe(2);
    const [retire] = planPorts(
      change({ ...next, retireCkns: [old] }),
      new Map([
        [
          "mesh0",
          [
            { port: 2, ckn: old },
            { port: 1, ckn: next.ckn },
          ],
        ],
      ]),
      DEFAULTS,
    );
    expect(retire!.cas.map((c) => [c.port, c.ckn])).toEqual([[1, next.ckn]]);
    expect(retire!.primary).toBe(1);
  });

  it("the agent is POSIX sh that parses (sh -n)", async () => {
    const { spawnSync } = await import("node:child_process");
    const r = spawnSync("sh", ["-n"], { input: agentScript(DEFAULTS), encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
  });

  it("refuses, before sending anything, what wpa_supplicant 2.10 cannot do: other suites, no SCI, bad keys", async () => {
    const d = create({
      device: "sw",
      profile: { portGroups: [{ match: "*", macsec: { suites: ["GCM-AES-128"] } }] },
      ssh: async () => {
        throw new Error("must not connect");
      },
      snmp: () => {
        throw new Error("no");
      },
      commandTimeoutMs: 1000,
      now: () => new Date(),
    });
    await expect(d.loadCandidate({ ...change(), policy: { ...change().policy, suite: "GCM-AES-XPN-256" } })).rejects.toThrow(
      /GCM-AES-XPN-256 is not available: this device's wpa_supplicant offers GCM-AES-128/,
    );
    await expect(d.loadCandidate({ ...change(), policy: { ...change().policy, includeSci: false } })).rejects.toBeInstanceOf(
      UnsupportedError,
    );
    await expect(d.loadCandidate(change({ cak: "00" }))).rejects.toThrow(/32 hex digits/);
    await expect(d.loadCandidate({ ...change(), interfaces: [{ name: "eth0; rm -rf /", replayWindow: 0 }] })).rejects.toThrow(
      /not a Linux interface name/,
    );
  });

  it("profile options: defaults, the profile's suites, and only plain paths", () => {
    expect(linuxMacsecOptions({}, "sw")).toMatchObject({ stateDir: "/etc/linkcrypt/macsec", macsecOffload: "off" });
    expect(linuxMacsecOptions({ linux: { macsecOffload: "mac" } }, "sw").macsecOffload).toBe("mac");
    expect(() => linuxMacsecOptions({ linux: { stateDir: "/etc/$(reboot)" } }, "sw")).toThrow(/plain absolute path/);
  });
});

describe("linux-macsec: parsers (kernel-lab captures)", () => {
  it("ip -s macsec show: suite, TX SA key number, the peer's RX SC, InPktsOK summed per SC", () => {
    const s = parseIpMacsecShow(fx("ip-s-macsec-show.txt"));
    expect(s.cipher).toBe("GCM-AES-128");
    expect(s.offload).toBe("off");
    expect(s.txSci).toMatch(/^[0-9a-f]{16}$/);
    expect(s.txSas.find((x) => x.an === s.encodingSa)?.keyNumber).toBe(1);
    expect(s.rxScs).toHaveLength(1);
    expect(s.rxScs[0]!.sci).not.toBe(s.txSci);
    expect(s.counters.InPktsOK).toBeGreaterThan(0);
    expect(s.counters.OutPktsEncrypted).toBeGreaterThan(0);
  });

  it("wpa_cli status: KaY active and secured, key distribution counts", () => {
    const w = parseWpaCliStatus(fx("wpa-cli-status-secured.txt"));
    expect(w).toMatchObject({ kayActive: true, secured: true, failed: false });
    expect((w.keysDistributed ?? 0) + (w.keysReceived ?? 0)).toBeGreaterThan(0);
    expect(w.fields.live_peers).toBe("1");
  });

  it("a port is secured only with MKA secured, a TX SA in use and a live peer SC; else pending with the reason", () => {
    const now = "2026-01-01T00:00:00Z";
    const ports = parseAgentStatus(fx("agent-status.txt"));
    const st = portState("mesh0", ports.get("mesh0")!.cas, now);
    expect(st.status).toBe("secured");
    expect(st.detail).toMatch(/MKA secured on CA .* MKA peer SCI [0-9a-f]{16} \(1 live\), key server .*, key number 1 on AN 0/);
    expect(st.counters).toMatchObject({ keyNumber: 1, sciPort: 1 });
    const alone = parseAgentStatus(fx("agent-status-alone.txt"));
    const a = portState("mesh0", alone.get("mesh0")!.cas, now);
    expect(a.status).toBe("pending");
    expect(a.detail).toMatch(/no MKA peer/);
    expect(portState("mesh0", [], now).status).toBe("unsecured");
  });
});
