// The real peers the tests use are the product's lab peers (`linkcrypt lab up` starts the same ones).
import { readFileSync } from "node:fs";
import { LAB_USER, type NetconfPeer } from "../../src/lab/peers.js";
import { NetconfSession } from "../../src/transport/netconf/client.js";
import { SshConnection } from "../../src/transport/ssh.js";

export * from "../../src/lab/peers.js";

/**
 * A NETCONF session of the test's own to a lab peer, as the lab user: reads what the device holds independently of
 * the driver under test. `close` ends the session and its SSH connection.
 */
export async function netconfProbe(p: NetconfPeer, o: { rpcTimeoutMs?: number } = {}) {
  const c = await SshConnection.connect({
    device: "probe",
    host: p.host,
    port: p.port,
    username: LAB_USER,
    privateKey: readFileSync(p.clientKeyPath),
    knownHostsFile: p.knownHosts,
  });
  const nc = await NetconfSession.open(await c.subsystem("netconf"), { device: "probe", ...o });
  return { nc, close: async () => (await nc.close(), c.close()) };
}
