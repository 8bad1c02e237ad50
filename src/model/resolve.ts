import { findEspCipher } from "../crypto/esp-ciphers.js";
import { formatPath, suggest, type Diagnostic, type PathSegment } from "./diagnostics.js";
import type { DeviceEntry, Inventory, LinkEntry, MeshEntry } from "./inventory-schema.js";
import type { ProfileSet } from "./load-profiles.js";
import type { Model, ModelEndpoint, ModelHost, ModelL1, ModelLink, ModelMesh, ModelPort, ModelSwitch } from "./model.js";
import type { PolicyProfile, SwitchProfile } from "./profile-schema.js";
import { formatSpeed, parseSpeed } from "./speed.js";

/**
 * Looks up every reference in a schema-valid inventory and builds the planner's model. Small named checks each add
 * diagnostics; nothing throws, so one run reports every problem. The model is returned only when there is no error.
 */
export function resolveInventory(
  inv: Inventory,
  profiles: ProfileSet,
  locate: (path: readonly PathSegment[]) => string | undefined = () => undefined,
  /** Entries that failed the schema (`devices[2]`): skipped, and references to their names are not reported. */
  skip: ReadonlySet<string> = new Set(),
): { model?: Model; diagnostics: Diagnostic[] } {
  const diags: Diagnostic[] = [];
  const report = (severity: Diagnostic["severity"], code: string, path: PathSegment[], message: string) => {
    const source = locate(path);
    diags.push({ severity, code, path: formatPath(path), message, ...(source ? { source } : {}) });
  };
  const error = (code: string, path: PathSegment[], message: string) => report("error", code, path, message);
  const warn = (code: string, path: PathSegment[], message: string) => report("warning", code, path, message);

  const policy = lookupPolicy(inv.policy, ["policy"]);
  const sites = new Set<string>();
  const skipped = (list: string, i: number) => skip.has(`${list}[${i}]`);
  checkUnique(
    inv.sites.map((s) => s.name),
    "sites",
    "site",
  );
  inv.sites.forEach((s) => sites.add(s.name));
  checkUnique(
    inv.devices.map((d) => d.name),
    "devices",
    "device",
  );
  checkUnique(
    inv.links.map((l) => l.name),
    "links",
    "link",
  );
  checkUnique(
    inv.meshes.map((m) => m.name),
    "meshes",
    "mesh",
  );

  const switches = new Map<string, ModelSwitch>();
  const l1s = new Map<string, ModelL1>();
  const hosts = new Map<string, ModelHost>();
  const kindOf = new Map<string, DeviceEntry["kind"] | "invalid">();
  inv.devices.forEach((d, i) => {
    if (kindOf.has(d.name)) return; // reported by checkUnique; the first definition stands
    if (skipped("devices", i)) return void (typeof d.name === "string" && kindOf.set(d.name, "invalid"));
    kindOf.set(d.name, d.kind);
    resolveDevice(d, i);
  });

  const links: ModelLink[] = [];
  const usedPorts = new Map<string, string>();
  inv.links.forEach((l, i) => {
    if (skipped("links", i)) return;
    const m = resolveLink(l, i);
    if (m) links.push(m);
  });

  const meshes: ModelMesh[] = [];
  const meshOf = new Map<string, string>();
  inv.meshes.forEach((m, i) => {
    if (skipped("meshes", i)) return;
    const r = resolveMesh(m, i);
    if (r) meshes.push(r);
  });

  if (diags.some((d) => d.severity === "error") || !policy) return { diagnostics: diags };
  return {
    diagnostics: diags,
    model: {
      name: inv.name ?? "inventory",
      policyName: inv.policy,
      policy,
      sites: [...sites],
      switches,
      l1s,
      hosts,
      links,
      meshes,
      profiles,
    },
  };

  function lookupPolicy(name: string, path: PathSegment[]): PolicyProfile | undefined {
    const p = profiles.policies.get(name);
    if (!p) error("ref.policy", path, unknownName("policy profile", name, profiles.policies.keys()));
    return p;
  }

  function checkUnique(names: string[], list: string, what: string): void {
    const seen = new Map<string, number>();
    names.forEach((n, i) => {
      const first = seen.get(n);
      if (first !== undefined) error("dup.name", [list, i, "name"], `${what} "${n}" is defined twice (first at ${list}[${first}])`);
      else seen.set(n, i);
    });
  }

  function checkSite(site: string, path: PathSegment[]): void {
    if (!sites.has(site)) error("ref.site", path, unknownName("site", site, sites, "sites"));
  }

  function resolveDevice(d: DeviceEntry, i: number): void {
    const path: PathSegment[] = ["devices", i];
    checkSite(d.site, [...path, "site"]);
    if (d.kind === "switch") {
      const profile = profiles.switches.get(d.profile);
      if (!profile)
        return void error("ref.profile", [...path, "profile"], unknownName("switch profile", d.profile, profiles.switches.keys()));
      const ports = new Map<string, ModelPort>();
      d.ports.forEach((p, j) => {
        if (ports.has(p.name))
          return void error("dup.port", [...path, "ports", j, "name"], `port "${p.name}" is listed twice on device "${d.name}"`);
        const speedBps = parseSpeed(p.speed)!;
        if (p.l2Mtu !== undefined && p.l2Mtu < p.mtu + 14)
          error(
            "mtu.l2-below-l3",
            [...path, "ports", j, "l2Mtu"],
            `l2Mtu ${p.l2Mtu} cannot carry the IP MTU ${p.mtu} plus a 14-byte Ethernet header (needs ${p.mtu + 14})`,
          );
        if (p.mtu + 14 > profile.maxFrame)
          error(
            "mtu.above-max-frame",
            [...path, "ports", j, "mtu"],
            `mtu ${p.mtu} plus the 14-byte Ethernet header exceeds the ${profile.model} maximum frame of ${profile.maxFrame} bytes`,
          );
        ports.set(p.name, { device: d.name, name: p.name, speedBps, mtu: p.mtu, l2Mtu: p.l2Mtu, macsec: portMacsec(profile, p.name) });
      });
      switches.set(d.name, { name: d.name, site: d.site, profile, ports });
    } else if (d.kind === "l1-encryptor") {
      const profile = profiles.l1.get(d.profile);
      if (!profile)
        return void error("ref.profile", [...path, "profile"], unknownName("l1-encryptor profile", d.profile, profiles.l1.keys()));
      l1s.set(d.name, { name: d.name, site: d.site, profile });
    } else {
      const profile = profiles.hosts.get(d.profile);
      if (!profile) error("ref.profile", [...path, "profile"], unknownName("host profile", d.profile, profiles.hosts.keys()));
      const nics = d.nics.map((n, j) => {
        const np = profiles.nics.get(n.profile);
        if (!np) error("ref.profile", [...path, "nics", j, "profile"], unknownName("NIC profile", n.profile, profiles.nics.keys()));
        return np ? { name: n.name, profile: np, speedBps: parseSpeed(n.speed)!, mtu: n.mtu } : undefined;
      });
      const nic = nics[0];
      if (!profile || !nic) return;
      hosts.set(d.name, {
        name: d.name,
        site: d.site,
        profile,
        cpuFlags: profile.cpu.flags,
        ipv4: d.addresses.ipv4,
        ipv6: d.addresses.ipv6,
        nic,
        role: d.role,
        tags: d.tags,
        kernelAlgorithms: undefined,
        strongswanVersion: undefined,
      });
    }
  }

  function resolveEndpoint(text: string, path: PathSegment[], linkName: string): ModelEndpoint | undefined {
    const colon = text.indexOf(":");
    const device = text.slice(0, colon);
    const portName = text.slice(colon + 1);
    const kind = kindOf.get(device);
    if (kind === undefined) return void error("ref.device", path, unknownName("device", device, kindOf.keys(), "devices"));
    if (kind === "invalid") return undefined;
    if (kind !== "switch") return void error("ref.endpoint-kind", path, `device "${device}" is a ${kind}; link endpoints are switch ports`);
    const sw = switches.get(device);
    if (!sw) return undefined; // its own errors were reported on the device
    const port = sw.ports.get(portName);
    if (!port) {
      const hint = suggest(portName, sw.ports.keys());
      return void error(
        "ref.port",
        path,
        `port "${portName}" is not on device "${device}"${hint ? ` (did you mean "${hint}"?)` : ` (ports: ${[...sw.ports.keys()].join(", ")})`}`,
      );
    }
    const key = `${device}:${portName}`;
    const other = usedPorts.get(key);
    if (other) error("dup.endpoint", path, `port ${key} is already used by link "${other}"`);
    usedPorts.set(key, linkName);
    return { device, site: sw.site, port, switchProfile: sw.profile };
  }

  function resolveLink(l: LinkEntry, i: number): ModelLink | undefined {
    const path: PathSegment[] = ["links", i];
    const a = resolveEndpoint(l.a, [...path, "a"], l.name);
    const b = resolveEndpoint(l.b, [...path, "b"], l.name);
    if (a && b && a.device === b.device) error("link.loop", path, `both ends are on device "${a.device}"`);
    const speedBps = parseSpeed(l.speed)!;
    for (const [end, ep] of [
      ["a", a],
      ["b", b],
    ] as const) {
      if (ep && ep.port.speedBps < speedBps)
        error(
          "link.speed",
          [...path, "speed"],
          `link speed ${formatSpeed(speedBps)} exceeds the ${formatSpeed(ep.port.speedBps)} of port ${l[end]}`,
        );
    }
    const encryptors: ModelL1[] = [];
    (l.encryptors ?? []).forEach((name, j) => {
      const kind = kindOf.get(name);
      if (kind === undefined)
        return void error("ref.device", [...path, "encryptors", j], unknownName("device", name, kindOf.keys(), "devices"));
      if (kind === "invalid") return;
      if (kind !== "l1-encryptor")
        return void error("ref.encryptor-kind", [...path, "encryptors", j], `device "${name}" is a ${kind}, not an l1-encryptor`);
      const e = l1s.get(name);
      if (e) encryptors.push(e);
    });
    if (l.eapolPassthrough !== undefined && l.medium !== "provider-l2")
      warn(
        "link.eapol-ignored",
        [...path, "eapolPassthrough"],
        `eapolPassthrough only matters on provider-l2 circuits; this link is ${l.medium}`,
      );
    let linkPolicy = policy;
    if (l.policy?.profile !== undefined) linkPolicy = lookupPolicy(l.policy.profile, [...path, "policy", "profile"]);
    if (!linkPolicy) return undefined;
    const methods = l.policy?.methods ?? linkPolicy.methods;
    if (l.method !== undefined && l.method !== "none" && !methods.includes(l.method))
      error(
        "policy.method",
        [...path, "method"],
        `method "${l.method}" is not allowed by policy "${linkPolicy.name}" (allowed: ${methods.join(", ")})`,
      );
    if (l.macsecSuite !== undefined && !linkPolicy.macsec.suites.includes(l.macsecSuite))
      error(
        "policy.macsec-suite",
        [...path, "macsecSuite"],
        `MACsec suite ${l.macsecSuite} is not allowed by policy "${linkPolicy.name}" (allowed: ${linkPolicy.macsec.suites.join(", ")})`,
      );
    if (l.policy?.allowUnencrypted === true && !linkPolicy.unencryptedMedia.includes(l.medium))
      warn(
        "policy.override-unencrypted",
        [...path, "policy", "allowUnencrypted"],
        `this override lets a ${l.medium} link stay unencrypted, which policy "${linkPolicy.name}" does not allow by itself`,
      );
    if (!a || !b) return undefined;
    return {
      index: i,
      path: formatPath(path),
      name: l.name,
      a,
      b,
      medium: l.medium,
      speedBps,
      pathMtu: l.pathMtu,
      encryptors,
      eapolPassthrough: l.eapolPassthrough,
      nat: l.nat,
      pinnedMethod: l.method,
      pinnedSuite: l.macsecSuite,
      omitSci: l.macsecOmitSci,
      policy: linkPolicy,
      methods,
      allowUnencrypted: l.policy?.allowUnencrypted ?? linkPolicy.unencryptedMedia.includes(l.medium),
    };
  }

  function resolveMesh(m: MeshEntry, i: number): ModelMesh | undefined {
    const path: PathSegment[] = ["meshes", i];
    const sel = m.members;
    (sel.sites ?? []).forEach((s, j) => checkSite(s, [...path, "members", "sites", j]));
    (sel.hosts ?? []).forEach((h, j) => {
      const k = kindOf.get(h);
      if (k === undefined) error("ref.device", [...path, "members", "hosts", j], unknownName("device", h, kindOf.keys(), "devices"));
      else if (k !== "host" && k !== "invalid")
        error("ref.member-kind", [...path, "members", "hosts", j], `device "${h}" is a ${k}; mesh members are hosts`);
    });
    // Every selector entry must match some host on its own: a misspelled role or tag would silently drop hosts.
    const allHosts = [...hosts.values()];
    const noMatch = (list: "sites" | "roles" | "tags", what: string, values: (h: ModelHost) => readonly string[]) =>
      (sel[list] ?? []).forEach((v, j) => {
        if (list === "sites" && !sites.has(v)) return; // reported as an unknown site
        if ([...skip].some((k) => k.startsWith("devices["))) return; // a host that failed the schema may be the match
        if (allHosts.some((h) => values(h).includes(v))) return;
        const known = [...new Set(allHosts.flatMap(values))].sort();
        const hint = suggest(v, known);
        error(
          "mesh.selector-empty",
          [...path, "members", list, j],
          `${what} "${v}" matches no host${known.length ? ` (${list} that hosts have: ${known.join(", ")})` : ""}${hint ? `; did you mean "${hint}"?` : ""}`,
        );
      });
    noMatch("sites", "site", (h) => [h.site]);
    noMatch("roles", "role", (h) => (h.role === undefined ? [] : [h.role]));
    noMatch("tags", "tag", (h) => h.tags);
    const members = allHosts
      .filter(
        (h) =>
          (sel.sites === undefined || sel.sites.includes(h.site)) &&
          (sel.roles === undefined || (h.role !== undefined && sel.roles.includes(h.role))) &&
          (sel.tags === undefined || sel.tags.some((t) => h.tags.includes(t))) &&
          (sel.hosts === undefined || sel.hosts.includes(h.name)),
      )
      .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    if (members.length === 0) error("mesh.empty", [...path, "members"], `mesh "${m.name}" selects no hosts`);
    else if (members.length === 1)
      warn("mesh.single", [...path, "members"], `mesh "${m.name}" selects only "${members[0]!.name}", so it has no pairs`);
    for (const h of members) {
      const other = meshOf.get(h.name);
      if (other) error("mesh.overlap", [...path, "members"], `host "${h.name}" is already in mesh "${other}"; a host belongs to one mesh`);
      meshOf.set(h.name, m.name);
    }
    if (m.auth === "cert" && !m.ca)
      error(
        "mesh.ca-missing",
        [...path, "auth"],
        `mesh "${m.name}" uses certificates but names no ca (ca: {cert: "file:...", key: "file:..."})`,
      );
    if (!policy) return undefined;
    let ciphers = policy.esp.ciphers;
    if (m.ciphers) {
      m.ciphers.forEach((c, j) => {
        if (!policy.esp.ciphers.includes(c))
          error(
            "policy.cipher",
            [...path, "ciphers", j],
            `cipher "${c}" is refused: policy "${policy.name}" allows ${policy.esp.ciphers.join(", ")}${weakness(c)}`,
          );
      });
      ciphers = m.ciphers.filter((c) => policy.esp.ciphers.includes(c));
    }
    return {
      index: i,
      path: formatPath(path),
      name: m.name,
      hosts: members,
      mode: m.mode,
      natT: m.natT,
      overlay: m.overlay,
      auth: m.auth,
      ciphers: [...ciphers],
      offload: m.offload,
    };
  }
}

function portMacsec(profile: SwitchProfile, port: string): ModelPort["macsec"] {
  const group = profile.portGroups.find((g) => globMatch(g.match, port));
  if (!group?.macsec || group.macsec.suites.length === 0) return undefined;
  const lr = group.macsec.lineRateUpTo;
  return { suites: group.macsec.suites, sci: group.macsec.sci, lineRateUpToBps: lr === undefined ? undefined : parseSpeed(lr) };
}

export function globMatch(pattern: string, text: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split("*")
      .map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, "\\$&"))
      .join(".*")}$`,
  );
  return re.test(text);
}

/** `device "ams1-sw9" is not in devices` / `"foo" is not a known switch profile`, with a "did you mean". */
function unknownName(what: string, name: string, known: Iterable<string>, list?: string): string {
  const hint = suggest(name, known);
  const head = list ? `${what} "${name}" is not in ${list}` : `"${name}" is not a known ${what}`;
  return `${head}${hint ? ` (did you mean "${hint}"?)` : ""}`;
}

/** Why a cipher is weak, for refusal messages. */
function weakness(id: string): string {
  const c = findEspCipher(id);
  if (!c) return "";
  if (id.endsWith("-sha1")) return "; HMAC-SHA1-96 is MUST- in RFC 8221 and deprecated by BSI TR-02102-3";
  if (c.keyBits < 256) return "; this policy needs 256-bit keys";
  return "";
}
