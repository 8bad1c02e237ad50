import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { release } from "node:os";
import { join, resolve } from "node:path";
import { Recorder } from "./replay/record.js";
import { ReplayMismatch, Replayer } from "./replay/replay.js";
import { type CaseTape, normalise, type Provenance } from "./replay/tape.js";
import type { Harness, Mode } from "./suite.js";
import { type Io, SECRETS, type Subject, type SubjectDef } from "./subject.js";
import { SUBJECTS } from "./subjects.js";

const ROOT = resolve(import.meta.dirname, "../..");
/** Where the committed recordings live. */
export const REPLAY_DIR = join(ROOT, "test/fixtures/replay");
const SETUP = { id: "setup", title: "(beforeAll) build the subject and connect the driver" };

/** Builds a driver's subject from its transports and connects it, as the recorded (or replayed) setup case. */
async function connectedSubject(runCase: Harness["runCase"], def: SubjectDef, io: Io): Promise<Subject> {
  let s: Subject | undefined;
  await runCase(SETUP, async () => {
    s = await def.build(io);
    await s.driver.connect();
  });
  return s!;
}
const TEARDOWN = { id: "teardown", title: "(afterAll) close the driver and the subject's connections" };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The drivers of `LINKCRYPT_CONTRACT_DRIVERS` (comma-separated), or all. */
function selected(driver: string): string | undefined {
  const only = process.env.LINKCRYPT_CONTRACT_DRIVERS?.split(",").map((d) => d.trim());
  return only && !only.includes(driver) ? `not in LINKCRYPT_CONTRACT_DRIVERS (${only.join(",")})` : undefined;
}

function packageVersion(pkg: string): string {
  const r = spawnSync("dpkg-query", ["-W", "-f", "${Version}", pkg], { encoding: "utf8" });
  return r.status === 0 && r.stdout ? r.stdout : "not installed";
}

function provenance(def: SubjectDef): Provenance {
  const git = (...a: string[]) => execFileSync("git", a, { cwd: ROOT, encoding: "utf8" }).trim();
  const dirty = git("status", "--porcelain", "--", "drivers", "src/transport", "test/contract") !== "";
  return {
    recordedAt: new Date().toISOString(),
    linkcrypt: `${git("rev-parse", "--short=12", "HEAD")}${dirty ? "+dirty" : ""}`,
    node: process.version,
    hostKernel: release(),
    peer: def.about.peer,
    tools: Object.fromEntries(def.about.packages.map((p) => [p, packageVersion(p)])),
    profile: def.about.profile,
    ...(def.about.models ? { models: def.about.models } : {}),
  };
}

/**
 * Against the real peers (root). With `recordDir`, every request and reply of each case is also written to
 * <recordDir>/<driver>/<case>.json, through the recorder wrapped around the transports the subject is built from.
 */
export function realMode(recordDir?: string): Mode {
  return {
    name: "real",
    skip: (driver) =>
      selected(driver) ??
      (process.getuid?.() !== 0 ? "the real peers need root (npm run test:unit replays the recordings)" : undefined) ??
      SUBJECTS[driver]!.realSkip?.(),
    harness: (driver): Harness => {
      const def = SUBJECTS[driver]!;
      const rec = recordDir ? new Recorder(SECRETS) : undefined;
      const dir = recordDir ? join(resolve(recordDir), driver) : undefined;
      const about = rec ? provenance(def) : undefined;
      let peer: Awaited<ReturnType<SubjectDef["peer"]>> | undefined;
      const runCase: Harness["runCase"] = async (c, body) => {
        rec?.begin();
        let ok = false;
        try {
          await body();
          ok = true;
        } finally {
          const exchanges = rec?.end();
          // a case that failed is not a recording anyone should replay
          if (dir && exchanges && ok) {
            const tape: CaseTape = { driver, case: c.id, title: c.title, provenance: about!, exchanges };
            writeFileSync(join(dir, `${c.id}.json`), `${JSON.stringify(tape, null, 2)}\n`);
          }
        }
      };
      return {
        sleep,
        runCase,
        setup: async () => {
          if (dir) {
            mkdirSync(dir, { recursive: true });
            for (const f of readdirSync(dir)) if (f.endsWith(".json")) rmSync(join(dir, f));
          }
          peer = await def.peer();
          const p = peer;
          const io: Io = rec
            ? { ssh: async (role) => rec.ssh(await p.ssh(role), role), snmp: (role) => rec.snmp(p.snmp(role), `${role}/snmp`) }
            : p;
          return connectedSubject(runCase, def, io);
        },
        teardown: async (s) => {
          try {
            if (s)
              await runCase(TEARDOWN, async () => {
                await s.driver.close();
                await s.stop();
              });
          } finally {
            await peer?.stop();
          }
        },
      };
    },
  };
}

/** Reads one case's recording; a missing one fails the case (it ran against the real peer, so it should be there). */
export function readTape(dir: string, driver: string, caseId: string): CaseTape {
  const file = join(dir, driver, `${caseId}.json`);
  if (!existsSync(file))
    throw new Error(
      `replay: no recording of ${driver} / ${caseId} (${file}); record it as root with LINKCRYPT_CONTRACT_RECORD=test/fixtures/replay npx vitest run test/contract`,
    );
  return JSON.parse(readFileSync(file, "utf8")) as CaseTape;
}

/** From the recordings in `dir` (default: the committed ones), no root, no peer. */
export function replayMode(dir = REPLAY_DIR): Mode {
  return {
    name: "replay",
    skip: (driver) =>
      selected(driver) ??
      (existsSync(join(dir, driver, `${SETUP.id}.json`))
        ? undefined
        : `no recording of ${driver} in ${join(dir, driver)} (its real peer${SUBJECTS[driver]!.realSkip ? ", the kernel lab," : ""} did not run when the recordings were made)`),
    harness: (driver): Harness => {
      const def = SUBJECTS[driver]!;
      const rp = new Replayer(SECRETS);
      const io: Io = { ssh: async (role) => rp.ssh(role), snmp: (role) => rp.snmp(`${role}/snmp`) };
      const runCase: Harness["runCase"] = async (c, body) => {
        rp.begin(readTape(dir, driver, c.id));
        let failure: unknown;
        try {
          await body();
        } catch (e) {
          failure = e;
        }
        const { mismatch, unsent } = rp.end();
        if (mismatch) {
          if (failure !== undefined && failure !== mismatch && !String((failure as Error)?.message).includes(mismatch.message))
            mismatch.message += `\n(the case then failed with: ${(failure as Error)?.message ?? failure})`;
          throw mismatch;
        }
        if (failure !== undefined) throw failure;
        if (unsent.length > 0) {
          const u = unsent[0]!;
          throw new ReplayMismatch(
            `replay: case "${c.id}" ended with ${unsent.length} recorded request(s) the driver never sent; the first, a ${u.kind} on ${u.channel}:\n${normalise(u.request).slice(0, 2000)}`,
          );
        }
      };
      return {
        sleep: async () => undefined,
        runCase,
        setup: async () => {
          return connectedSubject(runCase, def, io);
        },
        teardown: async (s) => {
          if (s)
            await runCase(TEARDOWN, async () => {
              await s.driver.close();
              await s.stop();
            });
        },
      };
    },
  };
}

/** Every driver with a contract subject, in a stable order. */
export const DRIVERS = Object.keys(SUBJECTS);
