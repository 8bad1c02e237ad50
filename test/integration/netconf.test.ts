import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SshConnection } from "../../src/transport/ssh.js";
import { dataXml, NetconfRpcError, NetconfSession } from "../../src/transport/netconf/client.js";
import { LAB_USER, startNetconf, type NetconfPeer } from "../lab/peers.js";

const OC = "http://openconfig.net/yang/macsec";
let peer: NetconfPeer;
let ssh: SshConnection;
beforeAll(async () => {
  peer = await startNetconf();
  ssh = await SshConnection.connect({
    device: "lab-sw1",
    host: peer.host,
    port: peer.port,
    username: LAB_USER,
    privateKey: readFileSync(peer.clientKeyPath),
    knownHostsFile: peer.knownHosts,
  });
});
afterAll(async () => {
  ssh?.close();
  await peer?.stop();
});

const open = async (offerBase11 = true) =>
  NetconfSession.open(await ssh.subsystem("netconf"), { device: "lab-sw1", offerBase11, rpcTimeoutMs: 10_000 });
const policy = (rekey: number, policyRef = "p1") => `<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
  <macsec xmlns="${OC}"><mka><policies><policy><name>p1</name><config><name>p1</name>
    <macsec-cipher-suite>GCM_AES_XPN_256</macsec-cipher-suite><sak-rekey-interval>${rekey}</sak-rekey-interval></config></policy></policies></mka>
  <interfaces><interface><name>eth1</name><config><name>eth1</name><enable>true</enable></config>
    <mka><config><mka-policy>${policyRef}</mka-policy></config></mka></interface></interfaces></macsec></config>`;
const rekeyIn = async (nc: NetconfSession, ds: "running" | "candidate") =>
  /<sak-rekey-interval>(\d+)</.exec(dataXml(await nc.getConfig(ds, `<macsec xmlns="${OC}"/>`)))?.[1];

describe("transport: netconf (real netconfd)", () => {
  it("negotiates base:1.1 chunked framing and reads capabilities", async () => {
    const nc = await open();
    expect(nc.framing).toBe("chunked");
    expect(nc.sessionId).toMatch(/^\d+$/);
    expect(nc.hasCapability("urn:ietf:params:netconf:capability:candidate:1.0")).toBe(true);
    expect(nc.hasCapability("urn:ietf:params:netconf:capability:confirmed-commit:1.1")).toBe(true);
    await nc.close();
  });

  it("speaks base:1.0 end-of-message framing when 1.1 is not offered", async () => {
    const nc = await open(false);
    expect(nc.framing).toBe("eom");
    await nc.getConfig("running");
    await nc.close();
  });

  it("locks, edits the candidate, commits, and reads back with a subtree filter", async () => {
    const nc = await open();
    await nc.lock("candidate");
    await nc.editConfig("candidate", policy(3600), { defaultOperation: "merge", errorOption: "rollback-on-error" });
    expect(await rekeyIn(nc, "candidate")).toBe("3600");
    await nc.commit();
    expect(await rekeyIn(nc, "running")).toBe("3600");
    await nc.unlock("candidate");
    await nc.close();
  });

  it("surfaces an rpc-error with its error-tag and error-path", async () => {
    const nc = await open();
    const e = await nc.editConfig("candidate", policy(5), { errorOption: "rollback-on-error" }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NetconfRpcError);
    const err = e as NetconfRpcError;
    expect(err.tag).toBe("invalid-value");
    expect(err.errorPath).toMatch(/sak-rekey-interval/);
    expect(err.device).toBe("lab-sw1");
    expect(err.message).toMatch(/^lab-sw1: edit-config failed: invalid-value/);
    await nc.discardChanges();
    await nc.close();
  });

  it("a confirmed commit rolls back by itself when the confirm does not come", async () => {
    const nc = await open();
    await nc.editConfig("candidate", policy(3600));
    await nc.commit();
    await nc.editConfig("candidate", policy(7200));
    await nc.commit({ confirmed: true, confirmTimeout: 2 });
    expect(await rekeyIn(nc, "running")).toBe("7200");
    await new Promise((r) => setTimeout(r, 3500));
    expect(await rekeyIn(nc, "running")).toBe("3600");
    await nc.close();
  });

  it("cancel-commit rolls back; a confirming commit makes it stick", async () => {
    const nc = await open();
    await nc.editConfig("candidate", policy(9000));
    await nc.commit({ confirmed: true, confirmTimeout: 60 });
    await nc.cancelCommit();
    expect(await rekeyIn(nc, "running")).toBe("3600");
    await nc.editConfig("candidate", policy(8000));
    await nc.commit({ confirmed: true, confirmTimeout: 60 });
    await nc.commit();
    await new Promise((r) => setTimeout(r, 200));
    expect(await rekeyIn(nc, "running")).toBe("8000");
    await nc.close();
  });

  it("validate and discard-changes work on the candidate", async () => {
    const nc = await open();
    await nc.editConfig("candidate", policy(4000));
    await nc.validate("running");
    await nc.discardChanges();
    expect(await rekeyIn(nc, "candidate")).toBe(await rekeyIn(nc, "running"));
    await nc.close();
  });
});
