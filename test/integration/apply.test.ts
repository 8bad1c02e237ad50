import { chmodSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { dataXml } from "../../src/transport/netconf/client.js";
import { SnmpSession } from "../../src/transport/snmp.js";
import { cli } from "../cli-run.js";
import { LAB_USER, netconfProbe, startNetconf, startSnmpd, type NetconfPeer, type SnmpPeer } from "../lab/peers.js";
import { stateFileText, stateJournal, stateSecret } from "../lab/state.js";

/** apply against real peers: two netconfd switches (MACsec link) and two snmpd encryptors (L1 link). */
const dir = mkdtempSync(join(tmpdir(), "lc-apply-"));
let swA: NetconfPeer, swB: NetconfPeer, encA: SnmpPeer, encB: SnmpPeer;
const OC = "http://openconfig.net/yang/macsec";

function inventory(o: { suite?: string } = {}) {
  const sw = (name: string, site: string, p: NetconfPeer) => ({
    name,
    kind: "switch",
    site,
    profile: "lab-openconfig-switch",
    management: { address: p.host, port: p.port, transport: "netconf" },
    credentials: { username: LAB_USER, secret: `file:${p.clientKeyPath}` },
    ports: [
      { name: "eth1", speed: "100G", mtu: 9000 },
      { name: "eth2", speed: "100G", mtu: 9000 },
    ],
  });
  const enc = (name: string, site: string, p: SnmpPeer) => ({
    name,
    kind: "l1-encryptor",
    site,
    profile: "acme-lx100",
    management: { address: p.host, port: p.port, transport: "snmp", snmpVersion: "3", snmpAuth: "sha", snmpPriv: "aes" },
    credentials: { username: p.v3.user, secret: `secrets:${name}-auth`, privSecret: `secrets:${name}-priv` },
  });
  return {
    version: 1,
    name: "apply-lab",
    policy: "default",
    sites: [{ name: "a" }, { name: "b" }],
    devices: [sw("sw-a", "a", swA), sw("sw-b", "b", swB), enc("enc-a", "a", encA), enc("enc-b", "b", encB)],
    links: [
      {
        name: "ab-macsec",
        a: "sw-a:eth1",
        b: "sw-b:eth1",
        medium: "dwdm",
        speed: "100G",
        pathMtu: 9216,
        ...(o.suite ? { macsecSuite: o.suite } : {}),
      },
      { name: "ab-l1", a: "sw-a:eth2", b: "sw-b:eth2", medium: "dwdm", speed: "100G", pathMtu: 9216, encryptors: ["enc-a", "enc-b"] },
    ],
  };
}
const inv = join(dir, "inv.yaml");
const stateDir = () => ({ stateDir: join(dir, "state") });
const journalText = async () => JSON.stringify(await stateJournal(stateDir(), "apply-lab"));
const common = () => [
  "--inventory",
  inv,
  "--state-dir",
  join(dir, "state"),
  "--known-hosts",
  join(dir, "known_hosts"),
  "--secrets",
  join(dir, "secrets.yaml"),
  "--confirm-timeout",
  "20",
  "--secured-timeout",
  "5",
];

const probe = (p: NetconfPeer) => netconfProbe(p);
async function suiteOn(p: NetconfPeer): Promise<string> {
  const { nc, close } = await probe(p);
  const x = dataXml(await nc.getConfig("running", `<macsec xmlns="${OC}"/>`));
  await close();
  return /<macsec-cipher-suite>(\w+)</.exec(x)?.[1] ?? "none";
}
async function rotationOn(p: SnmpPeer): Promise<number> {
  const s = SnmpSession.open({ device: "probe", host: p.host, port: p.port, version: "2c", community: "public" });
  const [v] = await s.get(["1.3.6.1.4.1.8072.9999.9999.1.4.0"]);
  s.close();
  return Number(v!.value);
}

beforeAll(async () => {
  [swA, swB, encA, encB] = await Promise.all([startNetconf(), startNetconf(), startSnmpd({ v2c: true }), startSnmpd({ v2c: true })]); // the probe reads over v2c
  writeFileSync(join(dir, "known_hosts"), readFileSync(swA.knownHosts, "utf8") + readFileSync(swB.knownHosts, "utf8"));
  writeFileSync(
    join(dir, "secrets.yaml"),
    stringify({
      "enc-a-auth": encA.v3.authKey,
      "enc-a-priv": encA.v3.privKey,
      "enc-b-auth": encB.v3.authKey,
      "enc-b-priv": encB.v3.privKey,
    }),
    { mode: 0o600 },
  );
  chmodSync(join(dir, "secrets.yaml"), 0o600);
  writeFileSync(inv, stringify(inventory()));
}, 60_000);
afterAll(async () => {
  await Promise.all([swA, swB, encA, encB].map((p) => p?.stop()));
});

describe("apply (real switches and encryptors)", () => {
  const outputs: string[] = [];
  it("dry run: shows both ends' diffs with the key masked, changes nothing, exits 2", async () => {
    expect((await cli("plan", inv, "--out", join(dir, "plan.json"))).code).toBe(0);
    const r = await cli("apply", join(dir, "plan.json"), ...common(), "--dry-run");
    outputs.push(r.out, r.err);
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.out).toMatch(/ab-macsec\s+macsec\s+planned/);
    expect(r.out).toMatch(/secret-key = <secret>/);
    expect(r.out).toMatch(/rotationInterval: 86400 -> 3600/);
    expect(await suiteOn(swA)).toBe("none");
    expect(await rotationOn(encA)).toBe(86400);
  });

  it("apply: both switches and both encryptors change, with confirmed commits, exit 2", async () => {
    const r = await cli("apply", join(dir, "plan.json"), ...common());
    outputs.push(r.out, r.err);
    expect(r.code, r.out + r.err).toBe(2);
    expect(await suiteOn(swA)).toBe("GCM_AES_XPN_256");
    expect(await suiteOn(swB)).toBe("GCM_AES_XPN_256");
    expect(await rotationOn(encA)).toBe(3600);
    expect(await rotationOn(encB)).toBe(3600);
    const steps = await stateJournal(stateDir(), "apply-lab");
    expect(steps.filter((s) => s.target === "ab-macsec").map((s) => `${s.step}:${s.state}`)).toEqual(
      expect.arrayContaining(["commit:done", "verify:done", "confirm:done"]),
    );
  });

  it("a second apply changes nothing and exits 0", async () => {
    const r = await cli("apply", join(dir, "plan.json"), ...common());
    outputs.push(r.out, r.err);
    expect(r.code, r.out + r.err).toBe(0);
    expect(r.out).toMatch(/ab-macsec\s+macsec\s+unchanged/);
  });

  it("when one switch refuses the commit, both ends roll back and the failure says so", async () => {
    writeFileSync(inv, stringify(inventory({ suite: "GCM-AES-XPN-128" })));
    expect((await cli("plan", inv, "--out", join(dir, "plan2.json"))).code).toBe(0);
    const blocker = await probe(swB);
    await blocker.nc.lock("running"); // another session holds sw-b's running datastore: its commit will fail
    try {
      const r = await cli("apply", join(dir, "plan2.json"), ...common());
      outputs.push(r.out, r.err);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/ab-macsec\s+macsec\s+failed\s+sw-b refused the commit, so sw-a was rolled back too/);
    } finally {
      await blocker.nc.unlock("running");
      await blocker.close();
    }
    expect(await suiteOn(swA)).toBe("GCM_AES_XPN_256");
    expect(await suiteOn(swB)).toBe("GCM_AES_XPN_256");
  });

  it("refuses a stale plan", async () => {
    writeFileSync(inv, stringify(inventory()));
    const r = await cli("apply", join(dir, "plan2.json"), ...common());
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/plan2\.json is stale: the inventory changed since it was made/);
  });

  it("verify marks each link with evidence, and the report shows it", async () => {
    const v = await cli(
      "verify",
      inv,
      "--known-hosts",
      join(dir, "known_hosts"),
      "--secrets",
      join(dir, "secrets.yaml"),
      "--out",
      join(dir, "verify.json"),
      "--json",
    );
    outputs.push(v.out, v.err);
    const entries = JSON.parse(v.out).entries as { name: string; status: string; evidence: string[] }[];
    const l1 = entries.find((e) => e.name === "ab-l1")!;
    expect(l1.status).toBe("secured");
    expect(l1.evidence.join(" ")).toMatch(/enc-a line: secured AES-256-GCM, key age \d+ s/);
    // the lab switches run no MKA: verify says it does not know, rather than claiming "secured"
    const mac = entries.find((e) => e.name === "ab-macsec")!;
    expect(mac.status).toBe("unknown");
    expect(mac.evidence.join(" ")).toMatch(/sw-a eth1: unknown GCM_AES_XPN_256/);
    const r = await cli("report", inv, "--verify", join(dir, "verify.json"), "--format", "html", "--out", join(dir, "report.html"));
    outputs.push(r.out, readFileSync(join(dir, "report.html"), "utf8"), readFileSync(join(dir, "verify.json"), "utf8"));
    expect(readFileSync(join(dir, "report.html"), "utf8")).toMatch(/ab-l1<\/td>.*secured/s);
  });

  it("rotates the MACsec key make-before-break: both keys on both ends, then only the new one", async () => {
    const before = JSON.parse((await stateSecret(stateDir(), "apply-lab", "macsec/ab-macsec"))!).ckn as string;
    const r = await cli(
      "rotate",
      "link",
      "ab-macsec",
      "--inventory",
      inv,
      "--state-dir",
      join(dir, "state"),
      "--known-hosts",
      join(dir, "known_hosts"),
      "--secrets",
      join(dir, "secrets.yaml"),
      "--confirm-timeout",
      "20",
    );
    outputs.push(r.out, r.err);
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.err).toMatch(/install-next-key done[\s\S]*retire-old-key done/);
    const after = JSON.parse((await stateSecret(stateDir(), "apply-lab", "macsec/ab-macsec"))!).ckn as string;
    expect(after).not.toBe(before);
    for (const p of [swA, swB]) {
      const { nc, close } = await probe(p);
      const x = dataXml(await nc.getConfig("running", '<keychains xmlns="http://openconfig.net/yang/oc-keychain"/>'));
      await close();
      const ckns = [...x.matchAll(/<key-id>(?:0x)?([0-9a-fA-F]+)<\/key-id>/g)].map((m) => m[1]!.toLowerCase()); // keychain 0.5.0 prefixes 0x
      expect(new Set(ckns)).toEqual(new Set([after]));
    }
    const k = await cli("keys", "status", "--inventory", inv, "--state-dir", join(dir, "state"), "--json");
    outputs.push(k.out);
    expect(JSON.parse(k.out).keys[0]).toMatchObject({ key: "MKA CAK ab-macsec", stale: false });
    // a later apply sees the rotated key as the plan's state: nothing to do
    expect((await cli("apply", join(dir, "plan.json"), ...common())).code).toBe(0);
  });

  it("a controller killed between commit and confirm: the rerun cancels the orphaned commit on both switches by its token, then converges", async () => {
    // a fresh change to apply: pin the other XPN suite
    writeFileSync(inv, stringify(inventory({ suite: "GCM-AES-XPN-128" })));
    expect((await cli("plan", inv, "--out", join(dir, "plan3.json"))).code).toBe(0);
    const { spawn } = await import("node:child_process");
    const args = ["bin/linkcrypt.js", "apply", join(dir, "plan3.json"), ...common().map((a) => (a === "20" ? "6" : a))];
    const seen = (await stateJournal(stateDir(), "apply-lab")).length; // only entries this child writes count
    const child = spawn(process.execPath, args, {
      env: { ...process.env, LINKCRYPT_TEST_PAUSE_AFTER_COMMIT_MS: "30000" },
      stdio: "ignore",
    });
    const until = Date.now() + 20_000;
    while (
      !(await stateJournal(stateDir(), "apply-lab"))
        .slice(seen)
        .some((e) => e.step === "commit" && e.state === "done" && e.target === "ab-macsec")
    )
      if (Date.now() > until) throw new Error("the apply never reached its commit");
      else await new Promise((r) => setTimeout(r, 50));
    expect(await suiteOn(swA)).toBe("GCM_AES_XPN_128"); // committed, not confirmed
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    outputs.push(await journalText());
    // The rerun finds the unconfirmed commit in the journal and cancels it on both switches (cancel-commit by
    // persist-id, from a new session) well before the 6 s deadline, then applies again from the old state.
    const before = (await stateJournal(stateDir(), "apply-lab")).length;
    const r = await cli("apply", join(dir, "plan3.json"), ...common());
    outputs.push(r.out, r.err);
    expect(r.err).toMatch(
      /a previous run left ab-macsec committed but unconfirmed: sw-a cancelled \(cancel-commit by persist-id\), sw-b cancelled/,
    );
    expect(r.err).not.toMatch(/waiting \d+ s/);
    expect(r.code, r.out + r.err).toBe(2);
    const rerun = (await stateJournal(stateDir(), "apply-lab")).slice(before);
    expect(rerun.some((e) => e.step === "commit" && e.state === "rolled-back" && /^cancelled by run /.test(e.detail ?? ""))).toBe(true);
    // the switches really were back on the old suite: the rerun had a change to stage
    const staged = rerun.find((e) => e.step === "stage" && e.target === "ab-macsec" && e.state === "done");
    expect(staged).toBeDefined();
    expect(staged!.detail).toBeUndefined(); // not "no change"
    expect(await suiteOn(swA)).toBe("GCM_AES_XPN_128");
    expect(await suiteOn(swB)).toBe("GCM_AES_XPN_128");
    const again = await cli("apply", join(dir, "plan3.json"), ...common());
    expect(again.code, again.out + again.err).toBe(0); // converged
  }, 60_000);

  it("no secret appears in any output, plan or journal, nor in clear in the state database", async () => {
    const cak = JSON.parse((await stateSecret(stateDir(), "apply-lab", "macsec/ab-macsec"))!).cak as string;
    expect(cak).toMatch(/^[0-9a-f]{64}$/);
    const files = [join(dir, "plan.json"), join(dir, "plan2.json")];
    for (const text of [
      ...outputs,
      await journalText(),
      stateFileText(join(dir, "state", "state.sqlite")),
      ...files.map((f) => readFileSync(f, "utf8")),
    ]) {
      expect(text).not.toContain(cak);
      for (const s of [encA.v3.authKey, encA.v3.privKey]) expect(text).not.toContain(s);
    }
    expect(
      readdirSync(join(dir, "state"))
        .filter((f) => !/-(wal|shm)$/.test(f))
        .sort(),
    ).toEqual(["state.key", "state.sqlite"]);
  });
});
