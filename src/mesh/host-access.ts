import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import type { SshConnection } from "../transport/ssh.js";
import { ViciClient } from "../transport/vici.js";
import { writeFileAtomic } from "../util/atomic-write.js";

/**
 * How the mesh code reaches one host: its charon over VICI, and its disk for the swanctl files (written atomically
 * so a reboot comes back in the same state). Local for the lab; over SSH (streamlocal + exec) in production.
 */
export interface HostAccess {
  name: string;
  confDir: string;
  vici(): Promise<ViciClient>;
  readFile(path: string): Promise<string | undefined>;
  writeFile(path: string, content: string, mode: number): Promise<void>;
  /** Run a command on the host (SSH-managed hosts only): kernel xfrm state and counters for verify. */
  exec?(command: string): Promise<string>;
}

export function localHost(name: string, socket: string, confDir: string): HostAccess {
  return {
    name,
    confDir,
    vici: () => ViciClient.connect({ device: name, socketPath: socket }),
    readFile: async (p) => {
      try {
        return readFileSync(p, "utf8");
      } catch {
        return undefined;
      }
    },
    writeFile: async (p, content, mode) => writeFileAtomic(p, content, { mode, mkdir: true }),
  };
}

export function sshHost(name: string, ssh: () => Promise<SshConnection>, socket: string, confDir: string): HostAccess {
  const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  return {
    name,
    confDir,
    vici: async () => ViciClient.connect({ device: name, stream: await (await ssh()).forwardStreamLocal(socket) }),
    readFile: async (p) => {
      const r = await (await ssh()).exec(`cat ${q(p)}`);
      return r.code === 0 ? r.stdout : undefined;
    },
    exec: async (command) => (await ssh()).run(command),
    writeFile: async (p, content, mode) => {
      const tmp = `${p}.linkcrypt-tmp`;
      await (await ssh()).run(
        `umask 077 && mkdir -p ${q(dirname(p))} && cat > ${q(tmp)} && chmod ${mode.toString(8)} ${q(tmp)} && mv -f ${q(tmp)} ${q(p)}`,
        undefined,
        content,
      );
    },
  };
}
