import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A throwaway PostgreSQL cluster for the state tests: Debian's postgresql, initdb into a temporary directory, a
 * private unix-socket directory and no TCP listener, trust authentication for its one role, stopped and removed by
 * stop(). As root the cluster runs as `nobody` (PostgreSQL refuses to run as root).
 */
export interface PgCluster {
  /** postgres://lc@/postgres?host=SOCKETDIR */
  url: string;
  dir: string;
  stop(): Promise<void>;
}

function pgBin(name: string): string {
  const base = "/usr/lib/postgresql";
  const versions = existsSync(base)
    ? execFileSync("ls", [base], { encoding: "utf8" })
        .split("\n")
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const v of versions) if (existsSync(join(base, v, "bin", name))) return join(base, v, "bin", name);
  throw new Error(`PostgreSQL's ${name} is not installed (Debian package postgresql; test/lab/ensure-peers.sh installs it)`);
}

export async function startPostgres(): Promise<PgCluster> {
  const dir = mkdtempSync(join(tmpdir(), "lc-pg-"));
  const data = join(dir, "data");
  const sock = join(dir, "sock");
  mkdirSync(data, { mode: 0o700 });
  mkdirSync(sock, { mode: 0o700 });
  const root = process.getuid?.() === 0;
  // As root: the cluster's files belong to nobody, and its commands run as nobody through runuser.
  if (root) {
    chmodSync(dir, 0o755);
    for (const d of [data, sock]) chownSync(d, 65534, 65534);
  }
  const as = (cmd: string, args: string[]) => (root ? { cmd: "runuser", args: ["-u", "nobody", "--", cmd, ...args] } : { cmd, args });
  const run = (cmd: string, args: string[]) => {
    const c = as(cmd, args);
    const r = spawnSync(c.cmd, c.args, { encoding: "utf8", cwd: dir, timeout: 60_000 });
    if (r.status !== 0) throw new Error(`${cmd} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}`);
  };
  run(pgBin("initdb"), ["-D", data, "-U", "lc", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
  run(pgBin("pg_ctl"), [
    "-D",
    data,
    "-l",
    join(sock, "server.log"),
    "-w",
    "-t",
    "60",
    "-o",
    `-k ${sock} -c listen_addresses= -c fsync=off -c max_connections=50`,
    "start",
  ]);
  const url = `postgres://lc@/postgres?host=${encodeURIComponent(sock)}`;
  return {
    url,
    dir,
    async stop() {
      try {
        run(pgBin("pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
