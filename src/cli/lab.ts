import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { stringify } from "yaml";
import { UsageError } from "../errors.js";
import { hasErrors } from "../model/diagnostics.js";
import type { Inventory } from "../model/inventory-schema.js";
import { labDown, labStatus, labUp, writeLabFile } from "../lab/lab.js";
import { createCa } from "../mesh/certs.js";
import { runKernelLab } from "../lab/kernel/lab-cli.js";
import { readKernelLab } from "../lab/kernel/vm-lab.js";
import { loadAll } from "./load.js";
import { EXIT, formatDiagnostics, formatTable, json, type Out } from "./output.js";

const defaultDir = (name: string) => `/tmp/linkcrypt-lab-${name}`;

/**
 * `linkcrypt lab up INVENTORY`: a namespace and a charon per mesh host, and `<dir>/inventory.yaml`, the same
 * inventory pointed at the lab, so plan, mesh deliver and verify run unchanged against it.
 */
export async function runLab(
  verb: string,
  file: string | undefined,
  o: { name?: string; dir?: string; json?: boolean; recreate?: boolean; snmpV2c?: boolean; datapath?: string; profiles: string[] },
  out: Out,
  err: Out = out,
): Promise<number> {
  if (o.datapath !== undefined && o.datapath !== "kernel" && o.datapath !== "libipsec")
    throw new UsageError(`--datapath must be libipsec or kernel, not "${o.datapath}"`);
  const kernelDir = verb === "up" ? undefined : (o.dir ?? defaultDir(o.name ?? "lab"));
  if (o.datapath === "kernel" || (kernelDir && readKernelLab(kernelDir))) {
    if (verb !== "up") return runKernelLab(verb, { name: o.name ?? "lab", dir: kernelDir!, ...(o.json ? { json: true } : {}) }, out, err);
    if (!file) throw new UsageError("lab up needs an inventory: linkcrypt lab up INVENTORY --datapath kernel");
    const l = loadAll(file, o.profiles);
    if (!l.data || !l.model || !l.profiles || hasErrors(l.diagnostics)) {
      out.write(`${formatDiagnostics(l.diagnostics)}${file}: not valid\n`);
      return EXIT.problems;
    }
    const inv = l.data as Inventory;
    const name = o.name ?? inv.name ?? "lab";
    const members = new Set(l.model.meshes.flatMap((m) => m.hosts.map((h) => h.name)));
    return runKernelLab(
      "up",
      {
        file,
        inv,
        members,
        profiles: l.profiles,
        name,
        dir: o.dir ?? defaultDir(name),
        ...(o.json ? { json: true } : {}),
        ...(o.recreate ? { recreate: true } : {}),
      },
      out,
      err,
    );
  }
  if (verb === "up") {
    if (!file) throw new UsageError("lab up needs an inventory: linkcrypt lab up INVENTORY");
    const l = loadAll(file, o.profiles);
    if (!l.data || hasErrors(l.diagnostics)) {
      out.write(`${formatDiagnostics(l.diagnostics)}${file}: not valid\n`);
      return EXIT.problems;
    }
    const inv = l.data as Inventory;
    const name = o.name ?? inv.name ?? "lab";
    const dir = o.dir ?? defaultDir(name);
    const members = new Set(l.model!.meshes.flatMap((m) => m.hosts.map((h) => h.name)));
    const hosts = inv.devices.filter((d) => d.kind === "host" && members.has(d.name)).map((d) => d.name);
    const switches = inv.devices.filter((d) => d.kind === "switch").map((d) => d.name);
    const encryptors = inv.devices.filter((d) => d.kind === "l1-encryptor").map((d) => d.name);
    if (hosts.length < 2 && switches.length === 0)
      throw new UsageError(`${file} has no switches and fewer than two mesh hosts; nothing to build a lab from`);
    const state = await labUp({
      name,
      dir,
      hostNames: hosts,
      switchNames: switches,
      encryptorNames: encryptors,
      recreate: o.recreate === true,
      snmpV2c: o.snmpV2c === true,
    });
    // Switch and encryptor access for plan/apply/verify against the lab. Files holding a key are 0600.
    writeLabFile(dir, "known_hosts", `${(state.switches ?? []).map((s) => s.knownHostsLine).join("\n")}\n`, 0o644);
    writeLabFile(
      dir,
      "secrets.yaml",
      stringify(
        Object.fromEntries(
          (state.encryptors ?? []).flatMap((e) => [
            [`${e.name}-auth`, e.v3.authKey],
            [`${e.name}-priv`, e.v3.privKey],
          ]),
        ),
      ),
      0o600,
    );
    const keyFile = writeLabFile(dir, "mesh-master.key", `${randomBytes(32).toString("hex")}\n`, 0o600);
    // Certificate meshes get a lab CA (never a real one).
    const needsCa = inv.meshes.some((m) => m.auth === "cert");
    if (needsCa) {
      const ca = createCa(`linkcrypt lab CA ${name}`);
      writeLabFile(dir, "lab-ca.crt", ca.certPem, 0o644);
      writeLabFile(dir, "lab-ca.key", ca.keyPem, 0o600);
    }
    const byName = new Map(state.hosts.map((h) => [h.name, h]));
    const labInv = {
      version: 1,
      name: `${inv.name ?? name} (lab)`,
      policy: inv.policy,
      sites: inv.sites,
      devices: [
        // Switches become lab switches (netconfd, OpenConfig MACsec model), keeping their ports.
        ...inv.devices.flatMap((d) => {
          const s = state.switches?.find((x) => x.name === d.name);
          if (d.kind !== "switch" || !s) return [];
          return [
            {
              name: d.name,
              kind: "switch",
              site: d.site,
              profile: "lab-openconfig-switch",
              management: { address: "127.0.0.1", port: s.port, transport: "netconf" },
              credentials: { username: state.user!, secret: `file:${s.clientKeyPath}` },
              ports: d.ports,
            },
          ];
        }),
        // Encryptors become the lab encryptor (snmpd + agent), reached over SNMPv3 authPriv.
        ...inv.devices.flatMap((d) => {
          const e = state.encryptors?.find((x) => x.name === d.name);
          if (d.kind !== "l1-encryptor" || !e) return [];
          return [
            {
              name: d.name,
              kind: "l1-encryptor",
              site: d.site,
              profile: "acme-lx100",
              management: { address: "127.0.0.1", port: e.port, transport: "snmp", snmpVersion: "3", snmpAuth: "sha", snmpPriv: "aes" },
              credentials: { username: e.v3.user, secret: `secrets:${d.name}-auth`, privSecret: `secrets:${d.name}-priv` },
            },
          ];
        }),
        ...inv.devices
          .filter((d) => d.kind === "host" && byName.has(d.name))
          .map((d) => {
            const h = byName.get(d.name)!;
            return {
              name: d.name,
              kind: "host",
              site: d.site,
              profile: "lab-netns-host",
              ...(d.kind === "host" && d.role ? { role: d.role } : {}),
              ...(d.kind === "host" && d.tags.length ? { tags: d.tags } : {}),
              management: { address: h.address, transport: "local" },
              addresses: { ipv4: h.address },
              nics: [{ name: "eth0", profile: "virtio-net", speed: "10G", mtu: 1500 }],
              vici: { socket: h.viciSocket, confDir: join(h.dir, "swanctl", "conf.d") },
            };
          }),
      ],
      links: inv.links,
      // libipsec does tunnel mode only; transport-mode configurations are checked by loading them, not by traffic.
      meshes: inv.meshes.map((m) => ({
        ...m,
        mode: "tunnel",
        natT: false,
        pskMaster: `file:${keyFile}`,
        ...(m.auth === "cert" ? { ca: { cert: `file:${join(dir, "lab-ca.crt")}`, key: `file:${join(dir, "lab-ca.key")}` } } : {}),
      })),
    };
    writeLabFile(dir, "inventory.yaml", `# generated by linkcrypt lab up from ${file}\n${stringify(labInv)}`, 0o644);
    if (o.json)
      out.write(
        json({
          dir,
          inventory: join(dir, "inventory.yaml"),
          hosts: state.hosts.map((h) => ({ name: h.name, address: h.address, netns: h.netns })),
          switches: (state.switches ?? []).map((x) => ({ name: x.name, port: x.port })),
          encryptors: (state.encryptors ?? []).map((x) => ({ name: x.name, port: x.port })),
        }),
      );
    else {
      out.write(
        `${formatTable(
          ["host", "address", "netns", "vici"],
          state.hosts.map((h) => [h.name, h.address, h.netns, h.viciSocket]),
        )}\n`,
      );
      const devices = [
        ...(state.switches ?? []).map((x) => [x.name, "switch", `netconfd behind sshd, 127.0.0.1:${x.port} (NETCONF over SSH)`]),
        ...(state.encryptors ?? []).map((x) => [
          x.name,
          "l1-encryptor",
          `snmpd, udp 127.0.0.1:${x.port} (SNMPv3 authPriv user ${x.v3.user}${state.snmpV2c ? "; v2c public/private too" : " only"})`,
        ]),
      ];
      if (devices.length) out.write(`\n${formatTable(["device", "kind", "peer"], devices)}\n`);
      out.write(`lab up in ${dir}; its inventory is ${join(dir, "inventory.yaml")}\n`);
      out.write(
        `next: linkcrypt mesh deliver ${join(dir, "inventory.yaml")} --lab && linkcrypt mesh verify ${join(dir, "inventory.yaml")}\n`,
      );
      if (state.switches?.length || state.encryptors?.length)
        out.write(
          `switches and encryptors: add --known-hosts ${join(dir, "known_hosts")} --secrets ${join(dir, "secrets.yaml")} to apply and verify\n`,
        );
      if (inv.meshes.some((m) => m.mode === "transport"))
        out.write("note: the lab runs the mesh in tunnel mode (kernel-libipsec has no transport mode)\n");
    }
    return EXIT.ok;
  }
  const dir = o.dir ?? defaultDir(o.name ?? "lab");
  if (verb === "down") {
    const gone = await labDown(dir);
    if (o.json) out.write(json({ dir, stopped: gone }));
    else out.write(gone.length ? `lab ${dir} down: ${gone.join(", ")}\n` : `no lab in ${dir}\n`);
    return EXIT.ok;
  }
  if (verb === "status") {
    const s = labStatus(dir);
    if (o.json) out.write(json({ dir, up: !!s.state, hosts: s.hosts, devices: s.devices }));
    else if (!s.state) out.write(`no lab in ${dir}\n`);
    else {
      out.write(
        `${formatTable(
          ["host", "charon", "vici socket"],
          s.hosts.map((h) => [h.name, h.running ? "running" : "STOPPED", h.vici ? "yes" : "no"]),
        )}\n`,
      );
      if (s.devices.length)
        out.write(
          `\n${formatTable(
            ["device", "kind", "daemons"],
            s.devices.map((d) => [d.name, d.kind, d.running ? "running" : "STOPPED"]),
          )}\n`,
        );
    }
    return s.state && s.hosts.every((h) => h.running) && s.devices.every((d) => d.running) ? EXIT.ok : EXIT.problems;
  }
  throw new UsageError(`unknown lab verb "${verb}": use up, down or status`);
}
