import { z } from "zod";
import { InputError } from "../errors.js";
import { depthOver } from "../model/json-depth.js";
import { PLAN_FORMAT, PLAN_VERSION } from "../planner/plan-types.js";

/**
 * The shape of a saved plan file, checked before anything reads it: every field of src/planner/plan-types.ts with
 * its type (so a hand-edited entry is an error naming its path, not a TypeError where it is read), and a bound on nesting (a hand-made file nested thousands deep would overflow the stack of any
 * recursive comparison). The decisions inside are not checked here: apply re-derives them and compares
 * (src/apply/plan-gate.ts).
 */
export const PLAN_MAX_DEPTH = 64;

// Every field a consumer reads (apply's gate, report --plan), with its type; extra fields are kept.
const str = z.string();
const num = z.number();
const Mtu = z.looseObject({
  pathMtu: num,
  overheadBytes: num,
  maxInnerMtu: num,
  recommendedMtu: num,
  mssClamp: num,
  layers: z.array(z.looseObject({ layer: str, bytes: num, items: z.array(z.looseObject({ what: str, bytes: num })) })),
});
const Link = z.looseObject({
  name: str,
  path: str,
  a: str,
  b: str,
  sites: z.tuple([str, str]),
  medium: str,
  speed: str,
  policy: str,
  method: z.enum(["l1", "macsec", "host-mesh", "none", "refused"]),
  cipher: str.nullable(),
  keyManagement: str.nullable(),
  reasons: z.array(str),
  candidates: z.array(z.looseObject({ method: str, viable: z.boolean(), detail: str })),
  mtu: Mtu,
  capacity: z.looseObject({ linkSpeed: str, encryptSpeed: str.nullable(), ok: z.boolean(), detail: str }),
  macsec: z.looseObject({ suite: str, includeSci: z.boolean(), xpn: z.boolean(), pnExhaustion: str }).optional(),
  l1: z
    .looseObject({ encryptors: z.tuple([str, str]), family: str, cipher: str, certifications: z.array(str), overheadBytes: num })
    .optional(),
  mesh: str.optional(),
});
const Side = z.looseObject({
  hostClass: str,
  decision: z.enum(["nic-packet-offload", "nic-crypto-offload", "host-xfrm"]),
  hwOffload: z.enum(["packet", "crypto", "no"]),
  throughput: str,
  reason: str,
});
const Family = z.enum(["ipv4", "ipv6"]);
const Mesh = z.looseObject({
  name: str,
  path: str,
  mode: z.enum(["transport", "tunnel"]),
  auth: z.enum(["psk", "cert"]),
  overlay: z.enum(["none", "vxlan"]),
  initiator: str,
  ike: z.looseObject({
    proposals: z.array(str),
    pfs: z.boolean(),
    pfsGroup: str,
    lifetimeSeconds: num,
    childLifetimeSeconds: num,
    dpdSeconds: num,
  }),
  hosts: num,
  pairs: num,
  members: z.array(z.looseObject({ name: str, site: str, ipv4: str.optional(), ipv6: str.optional(), hostClass: str })),
  hostClasses: z.array(
    z.looseObject({
      id: str,
      nic: str,
      nicDriver: str,
      nicSpeed: str,
      nicMtu: num,
      offload: z.array(z.enum(["crypto", "packet"])),
      cpu: str,
      cpuTier: z.enum(["vaes", "aesni", "generic"]),
      families: z.array(Family),
      usableCiphers: z.array(str),
      strongswan: z.looseObject({ hwOffloadModes: z.boolean().nullable(), esn: z.boolean() }),
      hosts: z.array(str),
    }),
  ),
  pathClasses: z.array(
    z.looseObject({
      id: str,
      linksMtu: num.nullable(),
      natT: z.boolean(),
      hardwareEncrypted: z.boolean(),
      speed: str.nullable(),
      sitePairs: z.array(str),
      links: z.array(z.array(str)),
    }),
  ),
  pairClasses: z.array(
    z.looseObject({
      id: str,
      hostClasses: z.tuple([str, str]),
      pathClass: str,
      pairs: num,
      method: z.enum(["esp", "exempt", "refused"]),
      cipher: str.nullable(),
      families: z.array(Family),
      natT: z.boolean(),
      sides: z.tuple([Side, Side]).nullable(),
      mtu: Mtu.nullable(),
      capacity: z.looseObject({ nicSpeed: str, estimate: str, ok: z.boolean() }).nullable(),
      esn: z.boolean(),
      rekeyPackets: num.nullable(),
      reasons: z.array(str),
    }),
  ),
});
const PlanShape = z.looseObject({
  format: str,
  version: num,
  inventory: str,
  policy: str,
  inputs: z.looseObject({ inventoryDigest: str, profilesDigest: str, factsDigest: str.optional() }),
  generator: str,
  summary: z.looseObject({
    links: z.looseObject({ l1: num, macsec: num, "host-mesh": num, none: num, refused: num }),
    meshes: num,
    hosts: num,
    pairs: num,
    errors: num.int().nonnegative(),
    warnings: num.int().nonnegative(),
  }),
  links: z.array(Link),
  meshes: z.array(Mesh),
  diagnostics: z.array(
    z.looseObject({
      severity: z.enum(["error", "warning", "info"]),
      code: str.optional(),
      path: str,
      message: str,
      source: str.optional(),
    }),
  ),
});

/** Throws an InputError naming every field that is missing or of the wrong type; returns the value unchanged. */
export function checkPlanShape(saved: unknown, file: string): unknown {
  if (saved === null || typeof saved !== "object" || Array.isArray(saved))
    throw new InputError(`${file} is not a linkcrypt plan (not a JSON object); make one with linkcrypt plan --out`);
  const { format, version } = saved as { format?: unknown; version?: unknown };
  if (format !== PLAN_FORMAT || version !== PLAN_VERSION) {
    const shown = (v: unknown) => (v === undefined ? "nothing" : (JSON.stringify(v) ?? String(v)).slice(0, 40));
    throw new InputError(
      `${file} is not a linkcrypt plan of version ${PLAN_VERSION} (format ${shown(format)}, version ${shown(version)}); make a new one with linkcrypt plan --out`,
    );
  }
  if (depthOver(saved, PLAN_MAX_DEPTH))
    throw new InputError(`${file} is nested deeper than ${PLAN_MAX_DEPTH} levels (the limit); it is not a linkcrypt plan`);
  const r = PlanShape.safeParse(saved);
  if (!r.success) {
    const what = r.error.issues.slice(0, 8).map((i) => `${i.path.map(String).join(".") || "(top)"}: ${i.message}`);
    throw new InputError(
      `${file} is not a well-formed linkcrypt plan: ${what.join("; ")}${r.error.issues.length > 8 ? ` (+${r.error.issues.length - 8} more)` : ""}; make a new one with linkcrypt plan --out`,
    );
  }
  return saved;
}
