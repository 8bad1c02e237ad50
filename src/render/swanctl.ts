import type { ConnSpec, ShuntSpec } from "../planner/conn-spec.js";
import type { ViciMessage } from "../transport/vici.js";

/**
 * Pure renderers of mesh connections: swanctl.conf text (for reboots) and VICI load-conn messages (for live, per-
 * connection delivery). Secrets go to a separate file (`secrets { }`), written with mode 0600.
 */
export function renderSwanctlConf(host: string, conns: readonly ConnSpec[], shunts: readonly ShuntSpec[] = []): string {
  const lines = [`# linkcrypt host mesh for ${host}; generated, do not edit. Secrets are in linkcrypt-secrets.conf.`, "connections {"];
  // Drop shunts first: after a reboot they are in place before any ESP connection is loaded.
  for (const sh of shunts) {
    lines.push(`  ${sh.name} {`, "    children {");
    for (const ch of sh.children)
      lines.push(
        `      ${ch.name} {`,
        "        mode = drop",
        `        local_ts = ${ch.localTs}`,
        `        remote_ts = ${ch.remoteTs}`,
        `        priority = ${sh.priority}`,
        "        start_action = trap",
        "      }",
      );
    lines.push("    }", "  }");
  }
  for (const c of conns) {
    lines.push(
      `  ${c.name} {`,
      "    version = 2",
      `    local_addrs = ${c.localAddr}`,
      `    remote_addrs = ${c.remoteAddr}`,
      `    proposals = ${c.proposals.join(",")}`,
      `    encap = ${c.encap ? "yes" : "no"}`,
      `    dpd_delay = ${c.dpdDelayS}s`,
      `    rekey_time = ${c.rekeyTimeS}s`,
      "    local {",
      `      auth = ${c.auth}`,
      `      id = ${c.localId}`,
      ...(c.localCert ? [`      certs = ${c.localCert}`] : []),
      "    }",
      "    remote {",
      `      auth = ${c.auth}`,
      `      id = ${c.remoteId}`,
      "    }",
      "    children {",
    );
    for (const ch of c.children)
      lines.push(
        `      ${ch.name} {`,
        `        mode = ${ch.mode}`,
        `        local_ts = ${ch.localTs}`,
        `        remote_ts = ${ch.remoteTs}`,
        `        esp_proposals = ${ch.espProposal}`,
        `        hw_offload = ${ch.hwOffload}`,
        `        start_action = ${ch.startAction}`,
        `        close_action = ${ch.closeAction}`,
        `        dpd_action = ${ch.dpdAction}`,
        `        rekey_time = ${ch.rekeyTimeS}s`,
        `        rand_time = ${ch.randTimeS}s`,
        ...(ch.rekeyPackets !== undefined ? [`        rekey_packets = ${ch.rekeyPackets}`] : []),
        "      }",
      );
    lines.push("    }", "  }");
  }
  lines.push("}", "");
  return lines.join("\n");
}

export function renderSwanctlSecrets(entries: readonly { name: string; ids: [string, string]; secret: string }[]): string {
  return [
    "# linkcrypt mesh pre-shared keys; mode 0600",
    "secrets {",
    ...entries.flatMap((e) => [
      `  ike-${e.name} {`,
      `    id-1 = ${e.ids[0]}`,
      `    id-2 = ${e.ids[1]}`,
      `    secret = "${e.secret}"`,
      "  }",
    ]),
    "}",
    "",
  ].join("\n");
}

/** `certPem`: the local certificate's PEM, which VICI takes as data where swanctl.conf names a file. */
export function connToVici(c: ConnSpec, certPem?: string): ViciMessage {
  const children: ViciMessage = {};
  for (const ch of c.children)
    children[ch.name] = {
      mode: ch.mode,
      local_ts: [ch.localTs],
      remote_ts: [ch.remoteTs],
      esp_proposals: [ch.espProposal],
      hw_offload: ch.hwOffload,
      start_action: ch.startAction,
      close_action: ch.closeAction,
      dpd_action: ch.dpdAction,
      rekey_time: `${ch.rekeyTimeS}s`,
      rand_time: `${ch.randTimeS}s`,
      ...(ch.rekeyPackets !== undefined ? { rekey_packets: String(ch.rekeyPackets) } : {}),
    };
  return {
    [c.name]: {
      version: "2",
      local_addrs: [c.localAddr],
      remote_addrs: [c.remoteAddr],
      proposals: [...c.proposals],
      encap: c.encap ? "yes" : "no",
      dpd_delay: `${c.dpdDelayS}s`,
      rekey_time: `${c.rekeyTimeS}s`,
      local: { auth: c.auth, id: c.localId, ...(c.localCert && certPem ? { certs: [certPem] } : {}) },
      remote: { auth: c.auth, id: c.remoteId },
      children,
    },
  };
}

/** A drop shunt as a VICI load-conn message. */
export function shuntToVici(sh: ShuntSpec): ViciMessage {
  const children: ViciMessage = {};
  for (const ch of sh.children)
    children[ch.name] = {
      mode: "drop",
      local_ts: [ch.localTs],
      remote_ts: [ch.remoteTs],
      priority: String(sh.priority),
      start_action: "trap",
    };
  return { [sh.name]: { version: "2", children } };
}
