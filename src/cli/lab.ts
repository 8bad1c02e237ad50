import { UsageError } from "../errors.js";
import { hasErrors } from "../model/diagnostics.js";
import type { Inventory } from "../model/inventory-schema.js";
import { type LabFromInventory, labDown, labStatus, labUpFromInventory } from "../lab/lab.js";
import { meshHostNames } from "../lab/lab-inventory.js";
import { runKernelLab } from "../lab/kernel/lab-cli.js";
import { readKernelLab } from "../lab/kernel/vm-lab.js";
import { loadAll } from "./load.js";
import { EXIT, formatDiagnostics, formatTable, json, type Out } from "./output.js";

const defaultDir = (name: string) => `/tmp/linkcrypt-lab-${name}`;

type LabOptions = {
  name?: string;
  dir?: string;
  json?: boolean;
  recreate?: boolean;
  snmpV2c?: boolean;
  datapath?: string;
  profiles: string[];
};

/**
 * `linkcrypt lab up INVENTORY`: a namespace and a charon per mesh host, and `<dir>/inventory.yaml`, the same
 * inventory pointed at the lab, so plan, mesh deliver and verify run unchanged against it. `lab down` and
 * `lab status` take a lab's directory; `--datapath kernel` (or a kernel lab in the directory) runs the VM lab.
 */
export async function runLab(verb: string, file: string | undefined, o: LabOptions, out: Out, err: Out = out): Promise<number> {
  if (o.datapath !== undefined && o.datapath !== "kernel" && o.datapath !== "libipsec")
    throw new UsageError(`--datapath must be libipsec or kernel, not "${o.datapath}"`);
  const kernelDir = verb === "up" ? undefined : (o.dir ?? defaultDir(o.name ?? "lab"));
  if (o.datapath === "kernel" || (kernelDir && readKernelLab(kernelDir))) {
    if (verb !== "up") return runKernelLab(verb, { name: o.name ?? "lab", dir: kernelDir!, ...(o.json ? { json: true } : {}) }, out, err);
    return runKernelLabUp(file, o, out, err);
  }
  if (verb === "up") return runLabUp(file, o, out);
  const dir = o.dir ?? defaultDir(o.name ?? "lab");
  if (verb === "down") return runLabDown(dir, o, out);
  if (verb === "status") return runLabStatus(dir, o, out);
  throw new UsageError(`unknown lab verb "${verb}": use up, down or status`);
}

/** `lab up INVENTORY --datapath kernel`: the VM lab, for the inventory's mesh hosts. */
function runKernelLabUp(file: string | undefined, o: LabOptions, out: Out, err: Out): Promise<number> | number {
  if (!file) throw new UsageError("lab up needs an inventory: linkcrypt lab up INVENTORY --datapath kernel");
  const l = loadAll(file, o.profiles);
  if (!l.data || !l.model || !l.profiles || hasErrors(l.diagnostics)) {
    out.write(`${formatDiagnostics(l.diagnostics)}${file}: not valid\n`);
    return EXIT.problems;
  }
  const inv = l.data as Inventory;
  const name = o.name ?? inv.name ?? "lab";
  return runKernelLab(
    "up",
    {
      file,
      inv,
      members: meshHostNames(l.model),
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

/** `lab up INVENTORY`: the namespace lab (`labUpFromInventory`), then what was built and how to use it. */
async function runLabUp(file: string | undefined, o: LabOptions, out: Out): Promise<number> {
  if (!file) throw new UsageError("lab up needs an inventory: linkcrypt lab up INVENTORY");
  const l = loadAll(file, o.profiles);
  if (!l.data || hasErrors(l.diagnostics)) {
    out.write(`${formatDiagnostics(l.diagnostics)}${file}: not valid\n`);
    return EXIT.problems;
  }
  const inv = l.data as Inventory;
  const name = o.name ?? inv.name ?? "lab";
  const lab = await labUpFromInventory({
    file,
    inv,
    meshHosts: meshHostNames(l.model!),
    name,
    dir: o.dir ?? defaultDir(name),
    recreate: o.recreate === true,
    snmpV2c: o.snmpV2c === true,
  });
  out.write(o.json ? json(labUpJson(lab)) : formatLabUp(lab, inv));
  return EXIT.ok;
}

function labUpJson({ dir, inventory, state }: LabFromInventory) {
  return {
    dir,
    inventory,
    hosts: state.hosts.map((h) => ({ name: h.name, address: h.address, netns: h.netns })),
    switches: (state.switches ?? []).map((x) => ({ name: x.name, port: x.port })),
    encryptors: (state.encryptors ?? []).map((x) => ({ name: x.name, port: x.port })),
  };
}

/** The lab's hosts and devices as tables, then the next commands to run against it. */
function formatLabUp({ dir, inventory, knownHosts, secrets, state }: LabFromInventory, inv: Inventory): string {
  let text = `${formatTable(
    ["host", "address", "netns", "vici"],
    state.hosts.map((h) => [h.name, h.address, h.netns, h.viciSocket]),
  )}\n`;
  const devices = [
    ...(state.switches ?? []).map((x) => [x.name, "switch", `netconfd behind sshd, 127.0.0.1:${x.port} (NETCONF over SSH)`]),
    ...(state.encryptors ?? []).map((x) => [
      x.name,
      "l1-encryptor",
      `snmpd, udp 127.0.0.1:${x.port} (SNMPv3 authPriv user ${x.v3.user}${state.snmpV2c ? "; v2c public/private too" : " only"})`,
    ]),
  ];
  if (devices.length) text += `\n${formatTable(["device", "kind", "peer"], devices)}\n`;
  text += `lab up in ${dir}; its inventory is ${inventory}\n`;
  text += `next: linkcrypt mesh deliver ${inventory} --lab && linkcrypt mesh verify ${inventory}\n`;
  if (state.switches?.length || state.encryptors?.length)
    text += `switches and encryptors: add --known-hosts ${knownHosts} --secrets ${secrets} to apply and verify\n`;
  if (inv.meshes.some((m) => m.mode === "transport"))
    text += "note: the lab runs the mesh in tunnel mode (kernel-libipsec has no transport mode)\n";
  return text;
}

/** `lab down`: stops and removes what lab up made in `dir`. */
async function runLabDown(dir: string, o: LabOptions, out: Out): Promise<number> {
  const gone = await labDown(dir);
  if (o.json) out.write(json({ dir, stopped: gone }));
  else out.write(gone.length ? `lab ${dir} down: ${gone.join(", ")}\n` : `no lab in ${dir}\n`);
  return EXIT.ok;
}

/** `lab status`: each host's charon and each device's daemons; problems unless everything runs. */
function runLabStatus(dir: string, o: LabOptions, out: Out): number {
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
