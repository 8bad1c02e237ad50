import { describe, expect, it } from "vitest";
import type { DeviceFacts } from "../../drivers/contract.js";
import { factsDrift, planDrift } from "../../src/apply/drift.js";
import type { Plan } from "../../src/planner/plan-types.js";
import type { FactsFile } from "../../src/model/facts.js";

const host = (o: Partial<NonNullable<DeviceFacts["host"]>> = {}): DeviceFacts => ({
  device: "h1",
  driver: "linux-host",
  reachable: true,
  observedAt: "2026-11-22T00:00:00Z",
  host: {
    kernel: "6.1",
    cpuFlags: ["aes", "sse2"],
    kernelAlgorithms: { "rfc4106(gcm(aes))": ["x"] },
    nics: [{ name: "eth0", driver: "mlx5_core", espHwOffload: "on", espTxCsumHwOffload: "on" }],
    strongswanVersion: "5.9.8",
    xfrmStat: { XfrmInError: 1 },
    ...o,
  },
});
const file = (devices: FactsFile["devices"]): FactsFile => ({ format: "linkcrypt-facts", version: 1, inventory: "t", devices });

describe("apply: facts drift", () => {
  it("ignores what the planner does not use (timestamps, counters, kernel release)", () => {
    const later = { ...host({ kernel: "6.2", xfrmStat: { XfrmInError: 9 } }), observedAt: "2026-11-23T00:00:00Z" };
    expect(factsDrift(file({ h1: host() }), file({ h1: later }))).toEqual([]);
  });
  it("names device and field for offload, algorithms, strongSwan, reachability and NETCONF capabilities", () => {
    const now = host({
      nics: [{ name: "eth0", driver: "mlx5_core", espHwOffload: "off", espTxCsumHwOffload: "on" }],
      kernelAlgorithms: {},
      strongswanVersion: "6.0.1",
    });
    const sw = (c: boolean): DeviceFacts => ({
      device: "sw1",
      driver: "openconfig-macsec",
      reachable: true,
      observedAt: "x",
      netconf: { capabilities: [], candidate: true, confirmedCommit: c },
    });
    expect(
      factsDrift(
        file({ h1: host(), sw1: sw(true), h2: host() }),
        file({ h1: now, sw1: sw(false), h2: { reachable: false, error: { code: "E_CONNECT", message: "refused" } } }),
      ),
    ).toEqual([
      "h1: kernel algorithm rfc4106(gcm(aes)): gone",
      "h1: strongSwan version: 5.9.8 -> 6.0.1",
      "h1: NIC eth0 esp-hw-offload: on -> off",
      "h2: reachable: true -> false",
      "sw1: NETCONF :confirmed-commit: true -> false",
    ]);
  });
  it("plan drift names changed links, mesh parts, and other mesh settings", () => {
    const mesh = { name: "m", mode: "tunnel", hostClasses: [1], pathClasses: [], pairClasses: [], members: [], ike: {} };
    const plan = (links: object[], meshes: object[]) => ({ links, meshes }) as unknown as Plan;
    const saved = plan([{ name: "l1", method: "macsec" }], [mesh]);
    expect(planDrift(saved, saved)).toEqual([]);
    expect(planDrift(saved, plan([{ name: "l1", method: "l1" }], [{ ...mesh, hostClasses: [2], mode: "transport" }]))).toEqual([
      "link l1",
      "mesh m (hostClasses, settings)",
    ]);
    expect(planDrift(saved, plan([], []))).toEqual(["link l1", "mesh m"]);
  });
});
