import { findEspCipher } from "../crypto/esp-ciphers.js";
import { formatPath, suggest, type Diagnostic, type PathSegment } from "./diagnostics.js";
import type { DeviceEntry, HostEntry, Inventory, L1Entry, LinkEntry, MeshEntry, SwitchEntry } from "./inventory-schema.js";
import type { ProfileSet } from "./load-profiles.js";
import type { Model, ModelEndpoint, ModelHost, ModelL1, ModelLink, ModelMesh, ModelNic, ModelPort, ModelSwitch } from "./model.js";
import type { PolicyProfile, SwitchProfile } from "./profile-schema.js";
import { formatSpeed, parseSpeed } from "./speed.js";

/** The name an inventory without `name:` goes by (in plans, facts and the state store, where all such share it). */
export const UNNAMED_INVENTORY = "inventory";

/**
 * Looks up every reference in a schema-valid inventory and builds the planner's model. Small named steps each add
 * diagnostics; nothing throws, so one run reports every problem. The model is returned only when there is no error.
 * The steps run in a fixed order (policy, names, devices, links, meshes), which is the order of the diagnostics.
 */
export function resolveInventory(
  inv: Inventory,
  profiles: ProfileSet,
  locate: (path: readonly PathSegment[]) => string | undefined = () => undefined,
  /** Entries that failed the schema (`devices[2]`): skipped, and references to their names are not reported. */
  skip: ReadonlySet<string> = new Set(),
): { model?: Model; diagnostics: Diagnostic[] } {
  const r = newResolver(profiles, locate, skip);
  const policy = lookupPolicy(r, inv.policy, ["policy"]);
  checkNamesUnique(r, inv);
  const sites = new Set(inv.sites.map((s) => s.name));
  const devices = resolveDevices(r, inv.devices, sites);
  const links = resolveLinks(r, inv.links, devices, policy);
  const meshes = resolveMeshes(r, inv.meshes, devices, policy);

  if (r.diagnostics.some((d) => d.severity === "error") || !policy) return { diagnostics: r.diagnostics };
  return {
    diagnostics: r.diagnostics,
    model: {
      name: inv.name ?? UNNAMED_INVENTORY,
      policyName: inv.policy,
      policy,
      sites: [...sites],
      switches: devices.switches,
      l1s: devices.l1s,
      hosts: devices.hosts,
      links,
      meshes,
      profiles,
    },
  };
}

/** What every step shares: the profiles, the entries to skip, and the diagnostics reported so far, in order. */
interface Resolver {
  readonly profiles: ProfileSet;
  readonly skip: ReadonlySet<string>;
  readonly diagnostics: Diagnostic[];
  error(code: string, path: PathSegment[], message: string): void;
  warn(code: string, path: PathSegment[], message: string): void;
}

/** The devices step's result: every name's kind, and the devices that resolved, by name. */
interface DeviceIndex {
  readonly sites: ReadonlySet<string>;
  /** Every device name in the inventory (the first definition wins); "invalid" for one that failed the schema. */
  readonly kindOf: ReadonlyMap<string, DeviceEntry["kind"] | "invalid">;
  readonly switches: Map<string, ModelSwitch>;
  readonly l1s: Map<string, ModelL1>;
  readonly hosts: Map<string, ModelHost>;
}

function newResolver(
  profiles: ProfileSet,
  locate: (path: readonly PathSegment[]) => string | undefined,
  skip: ReadonlySet<string>,
): Resolver {
  const diagnostics: Diagnostic[] = [];
  const report = (severity: Diagnostic["severity"], code: string, path: PathSegment[], message: string) => {
    const source = locate(path);
    diagnostics.push({ severity, code, path: formatPath(path), message, ...(source ? { source } : {}) });
  };
  return {
    profiles,
    skip,
    diagnostics,
    error: (code, path, message) => report("error", code, path, message),
    warn: (code, path, message) => report("warning", code, path, message),
  };
}

const skipped = (r: Resolver, list: string, i: number) => r.skip.has(`${list}[${i}]`);

/** The policy profile a name refers to, or an error at `path`. */
function lookupPolicy(r: Resolver, name: string, path: PathSegment[]): PolicyProfile | undefined {
  const p = r.profiles.policies.get(name);
  if (!p) r.error("ref.policy", path, unknownName("policy profile", name, r.profiles.policies.keys()));
  return p;
}

/** Sites, devices, links and meshes each name their entries once; a second definition is an error. */
function checkNamesUnique(r: Resolver, inv: Inventory): void {
  const lists = [
    ["sites", "site", inv.sites],
    ["devices", "device", inv.devices],
    ["links", "link", inv.links],
    ["meshes", "mesh", inv.meshes],
  ] as const;
  for (const [list, what, entries] of lists) {
    const names = entries.map((e: { name: string }) => e.name);
    checkUnique(r, names, list, what);
  }
}

function checkUnique(r: Resolver, names: string[], list: string, what: string): void {
  const seen = new Map<string, number>();
  names.forEach((n, i) => {
    const first = seen.get(n);
    if (first !== undefined) r.error("dup.name", [list, i, "name"], `${what} "${n}" is defined twice (first at ${list}[${first}])`);
    else seen.set(n, i);
  });
}

function checkSite(r: Resolver, sites: ReadonlySet<string>, site: string, path: PathSegment[]): void {
  if (!sites.has(site)) r.error("ref.site", path, unknownName("site", site, sites, "sites"));
}

/**
 * Devices: each one's site and profile, and by kind its ports, NICs and addresses. The first definition of a name
 * stands; an entry that failed the schema only reserves its name, so references to it are not reported again.
 */
function resolveDevices(r: Resolver, entries: readonly DeviceEntry[], sites: ReadonlySet<string>): DeviceIndex {
  const kindOf = new Map<string, DeviceEntry["kind"] | "invalid">();
  const index: DeviceIndex = { sites, kindOf, switches: new Map(), l1s: new Map(), hosts: new Map() };
  entries.forEach((d, i) => {
    if (kindOf.has(d.name)) return; // reported by checkUnique; the first definition stands
    if (skipped(r, "devices", i)) return void (typeof d.name === "string" && kindOf.set(d.name, "invalid"));
    kindOf.set(d.name, d.kind);
    const path: PathSegment[] = ["devices", i];
    checkSite(r, sites, d.site, [...path, "site"]);
    if (d.kind === "switch") {
      const sw = resolveSwitch(r, d, path);
      if (sw) index.switches.set(d.name, sw);
    } else if (d.kind === "l1-encryptor") {
      const l1 = resolveL1(r, d, path);
      if (l1) index.l1s.set(d.name, l1);
    } else {
      const host = resolveHost(r, d, path);
      if (host) index.hosts.set(d.name, host);
    }
  });
  return index;
}

/** A switch: its profile and its ports. */
function resolveSwitch(r: Resolver, d: SwitchEntry, path: PathSegment[]): ModelSwitch | undefined {
  const profile = r.profiles.switches.get(d.profile);
  if (!profile)
    return void r.error("ref.profile", [...path, "profile"], unknownName("switch profile", d.profile, r.profiles.switches.keys()));
  return { name: d.name, site: d.site, profile, ports: resolvePorts(r, d, profile, path) };
}

/** A switch's ports, each named once, with MTUs that fit an Ethernet header and the profile's maximum frame. */
function resolvePorts(r: Resolver, d: SwitchEntry, profile: SwitchProfile, path: PathSegment[]): Map<string, ModelPort> {
  const ports = new Map<string, ModelPort>();
  d.ports.forEach((p, j) => {
    if (ports.has(p.name))
      return void r.error("dup.port", [...path, "ports", j, "name"], `port "${p.name}" is listed twice on device "${d.name}"`);
    const speedBps = parseSpeed(p.speed)!;
    if (p.l2Mtu !== undefined && p.l2Mtu < p.mtu + 14)
      r.error(
        "mtu.l2-below-l3",
        [...path, "ports", j, "l2Mtu"],
        `l2Mtu ${p.l2Mtu} cannot carry the IP MTU ${p.mtu} plus a 14-byte Ethernet header (needs ${p.mtu + 14})`,
      );
    if (p.mtu + 14 > profile.maxFrame)
      r.error(
        "mtu.above-max-frame",
        [...path, "ports", j, "mtu"],
        `mtu ${p.mtu} plus the 14-byte Ethernet header exceeds the ${profile.model} maximum frame of ${profile.maxFrame} bytes`,
      );
    ports.set(p.name, { device: d.name, name: p.name, speedBps, mtu: p.mtu, l2Mtu: p.l2Mtu, macsec: portMacsec(profile, p.name) });
  });
  return ports;
}

/** An L1 encryptor: its profile. */
function resolveL1(r: Resolver, d: L1Entry, path: PathSegment[]): ModelL1 | undefined {
  const profile = r.profiles.l1.get(d.profile);
  if (!profile)
    return void r.error("ref.profile", [...path, "profile"], unknownName("l1-encryptor profile", d.profile, r.profiles.l1.keys()));
  return { name: d.name, site: d.site, profile };
}

/** A host: its profile and its NICs' profiles (every one is checked; the first NIC is the one the model keeps). */
function resolveHost(r: Resolver, d: HostEntry, path: PathSegment[]): ModelHost | undefined {
  const profile = r.profiles.hosts.get(d.profile);
  if (!profile) r.error("ref.profile", [...path, "profile"], unknownName("host profile", d.profile, r.profiles.hosts.keys()));
  const nics = d.nics.map((n, j): ModelNic | undefined => {
    const np = r.profiles.nics.get(n.profile);
    if (!np) r.error("ref.profile", [...path, "nics", j, "profile"], unknownName("NIC profile", n.profile, r.profiles.nics.keys()));
    return np ? { name: n.name, profile: np, speedBps: parseSpeed(n.speed)!, mtu: n.mtu } : undefined;
  });
  const nic = nics[0];
  if (!profile || !nic) return undefined;
  return {
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
  };
}

/** Links, in order: a switch port serves one link only, so the ports taken so far are carried from link to link. */
function resolveLinks(r: Resolver, entries: readonly LinkEntry[], devices: DeviceIndex, policy: PolicyProfile | undefined): ModelLink[] {
  const links: ModelLink[] = [];
  const usedPorts = new Map<string, string>();
  entries.forEach((l, i) => {
    if (skipped(r, "links", i)) return;
    const m = resolveLink(r, l, i, devices, usedPorts, policy);
    if (m) links.push(m);
  });
  return links;
}

/** One link: its two ends, its speed against theirs, its encryptors, and the policy it is held to. */
function resolveLink(
  r: Resolver,
  l: LinkEntry,
  i: number,
  devices: DeviceIndex,
  usedPorts: Map<string, string>,
  policy: PolicyProfile | undefined,
): ModelLink | undefined {
  const path: PathSegment[] = ["links", i];
  const a = resolveEndpoint(r, devices, usedPorts, l.a, [...path, "a"], l.name);
  const b = resolveEndpoint(r, devices, usedPorts, l.b, [...path, "b"], l.name);
  if (a && b && a.device === b.device) r.error("link.loop", path, `both ends are on device "${a.device}"`);
  const speedBps = parseSpeed(l.speed)!;
  checkLinkSpeed(r, l, path, speedBps, a, b);
  const encryptors = resolveEncryptors(r, devices, l.encryptors ?? [], [...path, "encryptors"]);
  if (l.eapolPassthrough !== undefined && l.medium !== "provider-l2")
    r.warn(
      "link.eapol-ignored",
      [...path, "eapolPassthrough"],
      `eapolPassthrough only matters on provider-l2 circuits; this link is ${l.medium}`,
    );
  const linkPolicy = l.policy?.profile !== undefined ? lookupPolicy(r, l.policy.profile, [...path, "policy", "profile"]) : policy;
  if (!linkPolicy) return undefined;
  const methods = l.policy?.methods ?? linkPolicy.methods;
  checkLinkPolicy(r, l, path, linkPolicy, methods);
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

/** One end of a link, `device:port`: a port on a switch, not yet used by another link. */
function resolveEndpoint(
  r: Resolver,
  devices: DeviceIndex,
  usedPorts: Map<string, string>,
  text: string,
  path: PathSegment[],
  linkName: string,
): ModelEndpoint | undefined {
  const colon = text.indexOf(":");
  const device = text.slice(0, colon);
  const portName = text.slice(colon + 1);
  const kind = devices.kindOf.get(device);
  if (kind === undefined) return void r.error("ref.device", path, unknownName("device", device, devices.kindOf.keys(), "devices"));
  if (kind === "invalid") return undefined;
  if (kind !== "switch") return void r.error("ref.endpoint-kind", path, `device "${device}" is a ${kind}; link endpoints are switch ports`);
  const sw = devices.switches.get(device);
  if (!sw) return undefined; // its own errors were reported on the device
  const port = sw.ports.get(portName);
  if (!port) {
    const hint = suggest(portName, sw.ports.keys());
    return void r.error(
      "ref.port",
      path,
      `port "${portName}" is not on device "${device}"${hint ? ` (did you mean "${hint}"?)` : ` (ports: ${[...sw.ports.keys()].join(", ")})`}`,
    );
  }
  const key = `${device}:${portName}`;
  const other = usedPorts.get(key);
  if (other) r.error("dup.endpoint", path, `port ${key} is already used by link "${other}"`);
  usedPorts.set(key, linkName);
  return { device, site: sw.site, port, switchProfile: sw.profile };
}

/** A link runs no faster than either of its ports (end a first, then end b). */
function checkLinkSpeed(
  r: Resolver,
  l: LinkEntry,
  path: PathSegment[],
  speedBps: number,
  a: ModelEndpoint | undefined,
  b: ModelEndpoint | undefined,
): void {
  for (const [end, ep] of [
    ["a", a],
    ["b", b],
  ] as const) {
    if (ep && ep.port.speedBps < speedBps)
      r.error(
        "link.speed",
        [...path, "speed"],
        `link speed ${formatSpeed(speedBps)} exceeds the ${formatSpeed(ep.port.speedBps)} of port ${l[end]}`,
      );
  }
}

/** A link's `encryptors:`, each a known L1 encryptor (at `path`, index by index). */
function resolveEncryptors(r: Resolver, devices: DeviceIndex, names: readonly string[], path: PathSegment[]): ModelL1[] {
  const encryptors: ModelL1[] = [];
  names.forEach((name, j) => {
    const kind = devices.kindOf.get(name);
    if (kind === undefined) return void r.error("ref.device", [...path, j], unknownName("device", name, devices.kindOf.keys(), "devices"));
    if (kind === "invalid") return;
    if (kind !== "l1-encryptor")
      return void r.error("ref.encryptor-kind", [...path, j], `device "${name}" is a ${kind}, not an l1-encryptor`);
    const e = devices.l1s.get(name);
    if (e) encryptors.push(e);
  });
  return encryptors;
}

/** A link's pinned method and MACsec suite are ones its policy allows; an unencrypted override is flagged. */
function checkLinkPolicy(r: Resolver, l: LinkEntry, path: PathSegment[], linkPolicy: PolicyProfile, methods: readonly string[]): void {
  if (l.method !== undefined && l.method !== "none" && !methods.includes(l.method))
    r.error(
      "policy.method",
      [...path, "method"],
      `method "${l.method}" is not allowed by policy "${linkPolicy.name}" (allowed: ${methods.join(", ")})`,
    );
  if (l.macsecSuite !== undefined && !linkPolicy.macsec.suites.includes(l.macsecSuite))
    r.error(
      "policy.macsec-suite",
      [...path, "macsecSuite"],
      `MACsec suite ${l.macsecSuite} is not allowed by policy "${linkPolicy.name}" (allowed: ${linkPolicy.macsec.suites.join(", ")})`,
    );
  if (l.policy?.allowUnencrypted === true && !linkPolicy.unencryptedMedia.includes(l.medium))
    r.warn(
      "policy.override-unencrypted",
      [...path, "policy", "allowUnencrypted"],
      `this override lets a ${l.medium} link stay unencrypted, which policy "${linkPolicy.name}" does not allow by itself`,
    );
}

/** Meshes, in order: a host belongs to one mesh, so the hosts taken so far are carried from mesh to mesh. */
function resolveMeshes(r: Resolver, entries: readonly MeshEntry[], devices: DeviceIndex, policy: PolicyProfile | undefined): ModelMesh[] {
  const meshes: ModelMesh[] = [];
  const meshOf = new Map<string, string>();
  entries.forEach((m, i) => {
    if (skipped(r, "meshes", i)) return;
    const resolved = resolveMesh(r, m, i, devices, meshOf, policy);
    if (resolved) meshes.push(resolved);
  });
  return meshes;
}

/** One mesh: its member selectors, the hosts they select, its CA and its ciphers. */
function resolveMesh(
  r: Resolver,
  m: MeshEntry,
  i: number,
  devices: DeviceIndex,
  meshOf: Map<string, string>,
  policy: PolicyProfile | undefined,
): ModelMesh | undefined {
  const path: PathSegment[] = ["meshes", i];
  checkMemberRefs(r, m, path, devices);
  const allHosts = [...devices.hosts.values()];
  checkSelectorsMatch(r, m, path, devices, allHosts);
  const members = selectMembers(m, allHosts);
  checkMembers(r, m, path, members, meshOf);
  if (m.auth === "cert" && !m.ca)
    r.error(
      "mesh.ca-missing",
      [...path, "auth"],
      `mesh "${m.name}" uses certificates but names no ca (ca: {cert: "file:...", key: "file:..."})`,
    );
  if (!policy) return undefined;
  return {
    index: i,
    path: formatPath(path),
    name: m.name,
    hosts: members,
    mode: m.mode,
    natT: m.natT,
    overlay: m.overlay,
    auth: m.auth,
    ciphers: [...meshCiphers(r, m, path, policy)],
    offload: m.offload,
  };
}

/** A mesh's `members.sites` are known sites and its `members.hosts` are known hosts. */
function checkMemberRefs(r: Resolver, m: MeshEntry, path: PathSegment[], devices: DeviceIndex): void {
  const sel = m.members;
  (sel.sites ?? []).forEach((s, j) => checkSite(r, devices.sites, s, [...path, "members", "sites", j]));
  (sel.hosts ?? []).forEach((h, j) => {
    const k = devices.kindOf.get(h);
    if (k === undefined)
      r.error("ref.device", [...path, "members", "hosts", j], unknownName("device", h, devices.kindOf.keys(), "devices"));
    else if (k !== "host" && k !== "invalid")
      r.error("ref.member-kind", [...path, "members", "hosts", j], `device "${h}" is a ${k}; mesh members are hosts`);
  });
}

/** Every selector entry (site, role, tag) must match some host on its own: a misspelled role or tag would silently drop hosts. */
function checkSelectorsMatch(r: Resolver, m: MeshEntry, path: PathSegment[], devices: DeviceIndex, allHosts: readonly ModelHost[]): void {
  const sel = m.members;
  const noMatch = (list: "sites" | "roles" | "tags", what: string, values: (h: ModelHost) => readonly string[]) =>
    (sel[list] ?? []).forEach((v, j) => {
      if (list === "sites" && !devices.sites.has(v)) return; // reported as an unknown site
      if ([...r.skip].some((k) => k.startsWith("devices["))) return; // a host that failed the schema may be the match
      if (allHosts.some((h) => values(h).includes(v))) return;
      const known = [...new Set(allHosts.flatMap(values))].sort();
      const hint = suggest(v, known);
      r.error(
        "mesh.selector-empty",
        [...path, "members", list, j],
        `${what} "${v}" matches no host${known.length ? ` (${list} that hosts have: ${known.join(", ")})` : ""}${hint ? `; did you mean "${hint}"?` : ""}`,
      );
    });
  noMatch("sites", "site", (h) => [h.site]);
  noMatch("roles", "role", (h) => (h.role === undefined ? [] : [h.role]));
  noMatch("tags", "tag", (h) => h.tags);
}

/** The hosts a mesh's selectors pick (every given selector must hold), sorted by name. */
function selectMembers(m: MeshEntry, allHosts: readonly ModelHost[]): ModelHost[] {
  const sel = m.members;
  return allHosts
    .filter(
      (h) =>
        (sel.sites === undefined || sel.sites.includes(h.site)) &&
        (sel.roles === undefined || (h.role !== undefined && sel.roles.includes(h.role))) &&
        (sel.tags === undefined || sel.tags.some((t) => h.tags.includes(t))) &&
        (sel.hosts === undefined || sel.hosts.includes(h.name)),
    )
    .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}

/** A mesh needs two hosts for a pair, and takes each host from no earlier mesh (recorded in `meshOf`). */
function checkMembers(r: Resolver, m: MeshEntry, path: PathSegment[], members: readonly ModelHost[], meshOf: Map<string, string>): void {
  if (members.length === 0) r.error("mesh.empty", [...path, "members"], `mesh "${m.name}" selects no hosts`);
  else if (members.length === 1)
    r.warn("mesh.single", [...path, "members"], `mesh "${m.name}" selects only "${members[0]!.name}", so it has no pairs`);
  for (const h of members) {
    const other = meshOf.get(h.name);
    if (other) r.error("mesh.overlap", [...path, "members"], `host "${h.name}" is already in mesh "${other}"; a host belongs to one mesh`);
    meshOf.set(h.name, m.name);
  }
}

/** A mesh's ciphers: the policy's, or those of its own `ciphers:` the policy allows (each refused one is an error). */
function meshCiphers(r: Resolver, m: MeshEntry, path: PathSegment[], policy: PolicyProfile): PolicyProfile["esp"]["ciphers"] {
  if (!m.ciphers) return policy.esp.ciphers;
  m.ciphers.forEach((c, j) => {
    if (!policy.esp.ciphers.includes(c))
      r.error(
        "policy.cipher",
        [...path, "ciphers", j],
        `cipher "${c}" is refused: policy "${policy.name}" allows ${policy.esp.ciphers.join(", ")}${weakness(c)}`,
      );
  });
  return m.ciphers.filter((c) => policy.esp.ciphers.includes(c));
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
