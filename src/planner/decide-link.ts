import { espCipher, type EspCipherId } from "../crypto/esp-ciphers.js";
import { macsecOverheadBytes, macsecSuite, type MacsecSuiteId } from "../crypto/macsec-suites.js";
import type { Diagnostic } from "../model/diagnostics.js";
import type { ModelEndpoint, ModelLink, ModelMesh } from "../model/model.js";
import type { Method } from "../model/profile-schema.js";
import { formatSpeed, parseSpeed } from "../model/speed.js";
import { budget, type Family, type Layer } from "./mtu-budget.js";
import type { Candidate, LinkPlan, MtuPlan } from "./plan-types.js";
import { explainPnExhaustion } from "./pn-exhaustion.js";

/** Media that are a point-to-point Ethernet path end to end, where MKA can run between the two ports. */
const POINT_TO_POINT_L2 = new Set(["dark-fibre", "dwdm", "cross-connect", "provider-l2"]);
const ETHERNET_HEADER = 14;

interface Viable<T> {
  viable: true;
  detail: string;
  value: T;
}
interface NotViable {
  viable: false;
  detail: string;
}
type Evaluation<T> = Viable<T> | NotViable;

interface L1Choice {
  a: string;
  b: string;
  family: string;
  cipher: string;
  certifications: string[];
  overheadBytes: number;
  maxSpeedBps: number;
}

interface MacsecChoice {
  suite: MacsecSuiteId;
  includeSci: boolean;
  notes: string[];
}

/** L1 is usable only with one compatible inline encryptor at each end, fast enough, with a cipher the policy allows. */
export function evaluateL1(link: ModelLink): Evaluation<L1Choice> {
  const encs = link.encryptors;
  if (encs.length === 0) return { viable: false, detail: "no inline encryptors on this link" };
  if (encs.length !== 2)
    return {
      viable: false,
      detail: `needs one encryptor at each end; the link lists ${encs.length} (${encs.map((e) => e.name).join(", ")})`,
    };
  const [x, y] = encs as [(typeof encs)[0], (typeof encs)[0]];
  const ends = [link.a.site, link.b.site];
  for (const e of [x, y]) {
    if (!ends.includes(e.site))
      return { viable: false, detail: `encryptor ${e.name} is at site ${e.site}, not at either end (${ends.join(", ")})` };
  }
  if (link.a.site !== link.b.site && x.site === y.site)
    return { viable: false, detail: `both encryptors (${x.name}, ${y.name}) are at site ${x.site}; one must sit at each end` };
  if (x.profile.family !== y.profile.family)
    return {
      viable: false,
      detail: `${x.name} (${x.profile.model}, family ${x.profile.family}) and ${y.name} (${y.profile.model}, family ${y.profile.family}) do not interoperate`,
    };
  const cipher = link.policy.l1.ciphers.find((c) => x.profile.ciphers.includes(c) && y.profile.ciphers.includes(c));
  if (!cipher)
    return {
      viable: false,
      detail:
        `no common cipher that policy ${link.policy.name} allows: ${x.name} offers ${x.profile.ciphers.join("/")}, ` +
        `${y.name} offers ${y.profile.ciphers.join("/")}, the policy allows ${link.policy.l1.ciphers.join("/")}`,
    };
  const required = link.policy.l1.certifications;
  if (required.length > 0) {
    for (const e of [x, y]) {
      if (!e.profile.certifications.some((c) => required.some((r) => c.startsWith(r))))
        return {
          viable: false,
          detail: `policy ${link.policy.name} needs certified hardware (${required.join(" or ")}); ${e.name} (${e.profile.model}) lists ${e.profile.certifications.join(", ") || "none"}`,
        };
    }
  }
  const maxSpeedBps = Math.min(parseSpeed(x.profile.maxSpeed)!, parseSpeed(y.profile.maxSpeed)!);
  if (maxSpeedBps < link.speedBps)
    return { viable: false, detail: `the encryptors run at up to ${formatSpeed(maxSpeedBps)}; the link is ${formatSpeed(link.speedBps)}` };
  const overheadBytes = Math.max(x.profile.overheadBytes, y.profile.overheadBytes);
  const certifications = [...new Set([...x.profile.certifications, ...y.profile.certifications])];
  return {
    viable: true,
    detail:
      `${x.name} and ${y.name} (${x.profile.model}, family ${x.profile.family}) encrypt at L1 with ${cipher}, ` +
      `adding ${overheadBytes} bytes to the client MTU${certifications.length ? `; certified ${certifications.join(", ")}` : ""}`,
    value: { a: x.name, b: y.name, family: x.profile.family, cipher, certifications, overheadBytes, maxSpeedBps },
  };
}

/** MACsec needs a point-to-point L2 path that carries EAPOL, MACsec on both ports and a common suite the policy allows. */
export function evaluateMacsec(link: ModelLink): Evaluation<MacsecChoice> {
  if (!POINT_TO_POINT_L2.has(link.medium)) {
    const why: Record<string, string> = {
      "provider-l3": "a routed provider service: MACsec is hop-by-hop and does not cross the provider's routers",
      internet: "an internet path: MACsec is hop-by-hop and cannot cross routers",
      lan: "a shared LAN segment, not a point-to-point link between the two ports",
    };
    return { viable: false, detail: `the medium is ${why[link.medium] ?? link.medium}` };
  }
  if (link.medium === "provider-l2" && link.eapolPassthrough !== true) {
    return {
      viable: false,
      detail:
        link.eapolPassthrough === false
          ? "the provider filters EAPOL frames (eapolPassthrough: false), so MKA cannot agree keys across the circuit"
          : "the circuit does not state eapolPassthrough; many providers filter EAPOL, so MKA is not assumed to work (set eapolPassthrough: true once the provider confirms it)",
    };
  }
  const ends = [link.a, link.b] as const;
  for (const ep of ends) {
    if (!ep.port.macsec) return { viable: false, detail: `port ${ep.device}:${ep.port.name} on ${ep.switchProfile.model} has no MACsec` };
  }
  const [ma, mb] = [link.a.port.macsec!, link.b.port.macsec!];
  for (const ep of ends) {
    const lr = ep.port.macsec!.lineRateUpToBps;
    if (lr !== undefined && lr < link.speedBps)
      return {
        viable: false,
        detail: `MACsec on ${ep.device}:${ep.port.name} (${ep.switchProfile.model}) runs at line rate only up to ${formatSpeed(lr)}; the link is ${formatSpeed(link.speedBps)}`,
      };
  }
  let common = link.policy.macsec.suites.filter((s) => ma.suites.includes(s) && mb.suites.includes(s));
  if (common.length === 0)
    return {
      viable: false,
      detail:
        `no common suite that policy ${link.policy.name} allows: ${link.a.device} offers ${ma.suites.join("/")}, ` +
        `${link.b.device} offers ${mb.suites.join("/")}, the policy allows ${link.policy.macsec.suites.join("/")}`,
    };
  const xpnFromBps = parseSpeed(link.policy.macsec.xpnFrom)!;
  const needXpn = link.speedBps >= xpnFromBps;
  if (link.pinnedSuite !== undefined) {
    if (!common.includes(link.pinnedSuite))
      return {
        viable: false,
        detail: `the pinned suite ${link.pinnedSuite} is not available on both ports under the policy (common: ${common.join(", ")})`,
      };
    if (needXpn && !macsecSuite(link.pinnedSuite).xpn)
      return {
        viable: false,
        detail: `the pinned suite ${link.pinnedSuite} is not XPN, which is refused at ${formatSpeed(link.speedBps)} (XPN from ${formatSpeed(xpnFromBps)}): ${explainPnExhaustion(link.speedBps)}`,
      };
    common = [link.pinnedSuite];
  }
  if (needXpn) {
    const xpn = common.filter((s) => macsecSuite(s).xpn);
    if (xpn.length === 0)
      return {
        viable: false,
        detail: `only non-XPN suites are common (${common.join(", ")}), which are refused at ${formatSpeed(link.speedBps)}: ${explainPnExhaustion(link.speedBps)}`,
      };
    common = xpn;
  }
  const suite = common[0]!;
  const notes: string[] = [];
  let includeSci = true;
  if (link.omitSci) {
    const always = ends.filter((ep) => ep.port.macsec!.sci === "always");
    if (always.length > 0)
      notes.push(`SCI kept although macsecOmitSci is set: ${always.map((e) => e.switchProfile.model).join(", ")} always sends it`);
    else includeSci = false;
  }
  if (needXpn) notes.push(`XPN is required at ${formatSpeed(link.speedBps)}: ${explainPnExhaustion(link.speedBps)}`);
  return {
    viable: true,
    detail:
      `${suite} on ${link.a.device}:${link.a.port.name} and ${link.b.device}:${link.b.port.name}, ` +
      `SCI ${includeSci ? "included" : "omitted"} (${macsecOverheadBytes(includeSci)} bytes per frame), MKA with a pre-shared CAK`,
    value: { suite, includeSci, notes },
  };
}

/** Per mesh: the sites its members are at, and whether any member has IPv6 (looked up once per mesh, not per link). */
const meshFacts = new WeakMap<ModelMesh, { sites: Set<string>; ipv6: boolean }>();
function factsOf(m: ModelMesh): { sites: Set<string>; ipv6: boolean } {
  let f = meshFacts.get(m);
  if (!f) {
    f = { sites: new Set(m.hosts.map((h) => h.site)), ipv6: m.hosts.some((h) => h.ipv6 !== undefined) };
    meshFacts.set(m, f);
  }
  return f;
}

export function evaluateHostMesh(link: ModelLink, meshes: readonly ModelMesh[]): Evaluation<ModelMesh> {
  const mesh = meshes.find((m) => factsOf(m).sites.has(link.a.site) && factsOf(m).sites.has(link.b.site));
  if (!mesh) return { viable: false, detail: `no host mesh has members at both ${link.a.site} and ${link.b.site}` };
  return {
    viable: true,
    detail: `mesh ${mesh.name} encrypts host-to-host traffic that crosses this link; traffic from non-members stays in clear`,
    value: mesh,
  };
}

/** The largest IP MTU a port can take with `overhead` bytes of MACsec/L1 on every frame, limited by its max frame. */
function portLimit(ep: ModelEndpoint, overhead: number): number {
  const byFrame = ep.switchProfile.maxFrame - ETHERNET_HEADER - overhead;
  const byL2 = ep.port.l2Mtu === undefined ? Infinity : ep.port.l2Mtu - ETHERNET_HEADER - overhead;
  return Math.min(byFrame, byL2);
}

/**
 * Decides one inter-site link. Pure: the link, the meshes that might cover it, and nothing else.
 * Diagnostics are returned with plan paths; MTU problems name the port and the MTU that would fit.
 */
export function decideLink(link: ModelLink, meshes: readonly ModelMesh[]): { plan: LinkPlan; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const l1 = evaluateL1(link);
  const macsec = evaluateMacsec(link);
  const hostMesh = evaluateHostMesh(link, meshes);
  const evals: Record<Method, Evaluation<unknown>> = { l1, macsec, "host-mesh": hostMesh };
  const order: Method[] = link.pinnedMethod && link.pinnedMethod !== "none" ? [link.pinnedMethod] : [...link.methods];
  const candidates: Candidate[] = (["l1", "macsec", "host-mesh"] as const).map((m) => ({
    method: m,
    viable: evals[m].viable && link.methods.includes(m),
    detail: link.methods.includes(m) ? evals[m].detail : `not allowed by policy ${link.policy.name} (${evals[m].detail})`,
  }));

  let method: LinkPlan["method"] = "refused";
  const reasons: string[] = [];
  if (link.pinnedMethod === "none") {
    if (link.allowUnencrypted) {
      method = "none";
      reasons.push(`pinned to none; policy ${link.policy.name} lets ${link.medium} links stay unencrypted`);
    } else reasons.push(`pinned to none, but policy ${link.policy.name} requires ${link.medium} links to be encrypted`);
  } else {
    const chosen = order.find((m) => link.methods.includes(m) && evals[m].viable);
    if (chosen) {
      method = chosen;
      reasons.push(`${chosen}: ${evals[chosen].detail}`);
      for (const m of order) {
        if (m === chosen) break;
        reasons.push(`not ${m}: ${evals[m].detail}`);
      }
      if (link.pinnedMethod) reasons.push(`method pinned to ${link.pinnedMethod} in the inventory`);
    } else if (link.pinnedMethod) {
      reasons.push(`pinned to ${link.pinnedMethod}, which cannot be used: ${evals[link.pinnedMethod].detail}`);
    } else if (link.allowUnencrypted) {
      method = "none";
      reasons.push(`no method can encrypt this link, and policy ${link.policy.name} lets ${link.medium} links stay unencrypted`);
      for (const m of order) reasons.push(`not ${m}: ${evals[m].detail}`);
    } else {
      for (const m of order) reasons.push(`not ${m}: ${evals[m].detail}`);
    }
  }
  if (method === "macsec" && macsec.viable) reasons.push(...macsec.value.notes);

  let mtu: MtuPlan;
  let cipher: string | null = null;
  let keyManagement: string | null = null;
  const extra: Partial<LinkPlan> = {};
  const endOverhead = (o: number) => Math.min(portLimit(link.a, o), portLimit(link.b, o));
  if (method === "macsec" && macsec.viable) {
    const stack: Layer[] = [{ kind: "macsec", sci: macsec.value.includeSci }];
    mtu = linkMtu(stack, link, endOverhead(macsecOverheadBytes(macsec.value.includeSci)));
    cipher = macsec.value.suite;
    keyManagement = "MKA, pre-shared CAK/CKN";
    extra.macsec = {
      suite: cipher,
      includeSci: macsec.value.includeSci,
      xpn: macsecSuite(macsec.value.suite).xpn,
      pnExhaustion: explainPnExhaustion(link.speedBps),
    };
  } else if (method === "l1" && l1.viable) {
    const o = l1.value.overheadBytes;
    mtu = linkMtu(o > 0 ? [{ kind: "fixed", label: "L1 encryptor", bytes: o }] : [], link, endOverhead(0) - o);
    cipher = l1.value.cipher;
    keyManagement = `encryptor key exchange (${l1.value.family})`;
    extra.l1 = {
      encryptors: [l1.value.a, l1.value.b],
      family: l1.value.family,
      cipher,
      certifications: l1.value.certifications,
      overheadBytes: o,
    };
  } else if (method === "host-mesh" && hostMesh.viable) {
    const mesh = hostMesh.value;
    mtu = meshWorstMtu(mesh, link);
    cipher = mesh.ciphers[0] ?? null;
    keyManagement = `IKEv2 (${mesh.auth === "psk" ? "per-pair PSK" : "certificates"})`;
    extra.mesh = mesh.name;
  } else {
    mtu = linkMtu([], link, endOverhead(0));
  }

  // The ports carry what the link's own hardware protects; host ESP is added by the hosts, so on a mesh-protected
  // or clear link the ports only have to fit the path itself.
  const hardware = method === "macsec" || method === "l1";
  const portFit = hardware ? mtu.maxInnerMtu : Math.min(link.pathMtu, endOverhead(0));
  const fitsThrough = hardware
    ? `through ${method} (path MTU ${link.pathMtu}, ${mtu.overheadBytes} bytes of ${method} overhead)`
    : `the path (path MTU ${link.pathMtu})`;
  for (const ep of [link.a, link.b]) {
    if (method === "refused") break;
    if (ep.port.mtu > portFit)
      diagnostics.push({
        severity: "error",
        code: "mtu.port-too-large",
        path: `${link.path}`,
        message: `port ${ep.device}:${ep.port.name} has mtu ${ep.port.mtu}, but only ${portFit} fits ${fitsThrough}; set mtu ${portFit}`,
      });
  }
  // A pinned suite that cannot be used must not be dropped silently: falling back to the mesh narrows protection from
  // every frame on the link to mesh members' traffic only.
  if (link.pinnedSuite !== undefined && !macsec.viable && method !== "refused" && method !== "macsec")
    diagnostics.push({
      severity: "warning",
      code: "link.pinned-suite-unused",
      path: link.path,
      message:
        `link "${link.name}" pins MACsec suite ${link.pinnedSuite}, which cannot be used (${macsec.detail}); the link falls back to ${method}` +
        (method === "host-mesh" && hostMesh.viable
          ? `, which protects only traffic between members of mesh ${hostMesh.value.name}: traffic from other devices crosses the link in clear, where MACsec would have covered every frame`
          : method === "l1"
            ? ", which encrypts every frame at L1"
            : ""),
    });
  if (method === "refused")
    diagnostics.push({
      severity: "error",
      code: "link.refused",
      path: link.path,
      message: `link "${link.name}" cannot be encrypted under policy ${link.policy.name}: ${reasons.join("; ")}`,
    });
  else if (method === "none")
    diagnostics.push({
      severity: "warning",
      code: "link.unencrypted",
      path: link.path,
      message: `link "${link.name}" (${link.medium}) stays unencrypted: ${reasons[0]}`,
    });

  const encryptBps = method === "l1" && l1.viable ? l1.value.maxSpeedBps : method === "macsec" ? link.speedBps : null;
  const plan: LinkPlan = {
    name: link.name,
    path: link.path,
    a: `${link.a.device}:${link.a.port.name}`,
    b: `${link.b.device}:${link.b.port.name}`,
    sites: [link.a.site, link.b.site],
    medium: link.medium,
    speed: formatSpeed(link.speedBps),
    policy: link.policy.name,
    method,
    cipher,
    keyManagement,
    reasons,
    candidates,
    mtu,
    capacity: {
      linkSpeed: formatSpeed(link.speedBps),
      encryptSpeed: encryptBps === null ? null : formatSpeed(encryptBps),
      ok: encryptBps === null || encryptBps >= link.speedBps,
      detail:
        method === "host-mesh"
          ? "depends on the hosts: see the mesh's pair classes"
          : encryptBps === null
            ? "nothing encrypts this link"
            : `hardware encrypts at line rate (${formatSpeed(encryptBps)} for a ${formatSpeed(link.speedBps)} link)`,
    },
    ...extra,
  };
  return { plan, diagnostics };
}

function linkMtu(stack: Layer[], link: ModelLink, portCeiling: number): MtuPlan {
  const b = budget(stack, link.pathMtu, 4);
  const recommended = Math.min(b.maxInnerMtu, portCeiling);
  return {
    pathMtu: link.pathMtu,
    overheadBytes: b.overheadBytes,
    maxInnerMtu: Math.min(b.maxInnerMtu, portCeiling),
    recommendedMtu: recommended,
    mssClamp: Math.max(0, recommended - 40),
    layers: b.layers,
  };
}

/** One way host ESP may cross a mesh-protected link: a cipher, NAT-T or not, and the address families used. */
export interface MeshCrossing {
  cipher: EspCipherId;
  natT: boolean;
  families: readonly Family[];
}

/**
 * The largest host packet a mesh-protected link carries: its path MTU, and never more than either end port's IP MTU
 * (nor what the ports' frames allow), since host packets cross the ports as they are.
 */
export function meshLinkCeiling(link: ModelLink): number {
  return Math.min(link.pathMtu, link.a.port.mtu, link.b.port.mtu, portLimit(link.a, 0), portLimit(link.b, 0));
}

/**
 * For a mesh-protected link: the budget of the crossing with the most overhead, so every pair that crosses it fits.
 * `crossings` are the ciphers the pairs over this link were planned with; before the mesh is planned, every cipher the
 * mesh allows.
 */
export function meshLinkMtu(mesh: Pick<ModelMesh, "mode" | "overlay">, link: ModelLink, crossings: readonly MeshCrossing[]): MtuPlan {
  const ceiling = meshLinkCeiling(link);
  let worst: MtuPlan | undefined;
  for (const c of crossings) {
    for (const family of c.families) {
      const stack: Layer[] = [
        ...(mesh.overlay === "vxlan" ? [{ kind: "vxlan", family } as const] : []),
        { kind: "esp", cipher: espCipher(c.cipher), mode: mesh.mode, family, natT: c.natT },
      ];
      const b = budget(stack, ceiling, family);
      if (!worst || b.maxInnerMtu < worst.maxInnerMtu)
        worst = {
          pathMtu: ceiling,
          overheadBytes: b.overheadBytes,
          maxInnerMtu: b.maxInnerMtu,
          recommendedMtu: b.maxInnerMtu,
          mssClamp: b.mssClamp,
          layers: b.layers,
        };
    }
  }
  return worst!;
}

function meshWorstMtu(mesh: ModelMesh, link: ModelLink): MtuPlan {
  const family: Family = factsOf(mesh).ipv6 ? 6 : 4;
  return meshLinkMtu(
    mesh,
    link,
    mesh.ciphers.map((cipher) => ({ cipher, natT: mesh.natT || link.nat, families: [family] })),
  );
}
