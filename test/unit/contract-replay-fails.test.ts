import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { REPLAY_DIR, replayMode } from "../contract/modes.js";
import { ReplayMismatch, Replayer } from "../contract/replay/replay.js";
import type { CaseTape, Provenance } from "../contract/replay/tape.js";
import { CASES } from "../contract/suite.js";

/**
 * The replay can fail: each test copies one driver's committed recordings to a temporary directory, changes one
 * thing in a case's recording, and replays setup plus that case. An unchanged copy passes; a changed reply fails
 * the case's own assertions; a changed, missing or extra request fails with a ReplayMismatch and a diff.
 */
const DRIVER = "openconfig-macsec";
const CASE = "stage-diff-rollback";
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function copy(change?: (t: CaseTape) => void): string {
  const dir = mkdtempSync(join(tmpdir(), "lc-replay-"));
  dirs.push(dir);
  cpSync(join(REPLAY_DIR, DRIVER), join(dir, DRIVER), { recursive: true });
  const file = join(dir, DRIVER, `${CASE}.json`);
  const tape = JSON.parse(readFileSync(file, "utf8")) as CaseTape;
  change?.(tape);
  writeFileSync(file, JSON.stringify(tape));
  return dir;
}

async function replay(dir: string): Promise<void> {
  const h = replayMode(dir).harness(DRIVER);
  const s = await h.setup();
  try {
    const c = CASES.find((x) => x.id === CASE)!;
    await h.runCase(c, () => c.run(s, { name: DRIVER, sleep: h.sleep }));
  } finally {
    await h.teardown(s).catch(() => undefined);
  }
}

/** The index of the recorded exchange whose request contains `text`. */
const at = (t: CaseTape, text: string) => {
  const i = t.exchanges.findIndex((e) => e.request.includes(text));
  if (i < 0) throw new Error(`no recorded request with ${text}`);
  return i;
};

describe(`contract replay: it fails when the recording and the driver disagree (${DRIVER} / ${CASE})`, () => {
  it("the unchanged recording replays", async () => {
    await expect(replay(copy())).resolves.toBeUndefined();
  });

  it("a changed reply: the candidate read back empty makes the diff empty, and the case fails", async () => {
    const dir = copy((t) => {
      const e = t.exchanges[at(t, "<source><candidate/></source>")]!;
      e.reply = (e.reply as string).replace(/<data>[\s\S]*<\/data>/, "<data></data>");
    });
    await expect(replay(dir)).rejects.toThrow(/expected '' not to be ''/);
  });

  it("a changed reply carrying the CAK in a plain leaf: the replayed diff shows the real key, and the case fails", async () => {
    const dir = copy((t) => {
      const e = t.exchanges[at(t, "<source><candidate/></source>")]!;
      e.reply = (e.reply as string).replace("<name>lc-kc1</name>", "<name>{{secret:cak}}</name>");
    });
    await expect(replay(dir)).rejects.toThrow(/not to contain/);
  });

  it("a changed request (the driver now sends another suite): a ReplayMismatch with expected and got", async () => {
    const dir = copy((t) => {
      const e = t.exchanges[at(t, "<edit-config>")]!;
      e.request = e.request.replace("GCM_AES_XPN_256", "GCM_AES_XPN_128");
    });
    const err = await replay(dir).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.name).toBe("ReplayMismatch");
    expect(err?.message).toMatch(/unexpected netconf on lab-sw1\/netconf in case "stage-diff-rollback"/);
    expect(err?.message).toMatch(/^- .*GCM_AES_XPN_128/m);
    expect(err?.message).toMatch(/^\+ .*GCM_AES_XPN_256/m);
  });

  it("a request the recording does not have (the driver sends one more): a ReplayMismatch", async () => {
    const dir = copy((t) => {
      t.exchanges.splice(at(t, "<discard-changes/>"), 1);
    });
    await expect(replay(dir)).rejects.toThrow(
      /unexpected netconf on lab-sw1\/netconf[\s\S]*- .*<edit-config>[\s\S]*\+ .*<discard-changes\/>/,
    );
  });

  it("a recorded request the driver never sends: the case fails naming it", async () => {
    const dir = copy((t) => {
      const i = at(t, "<unlock>");
      t.exchanges.splice(i + 1, 0, structuredClone(t.exchanges[i]!));
    });
    await expect(replay(dir)).rejects.toThrow(
      /ended with 1 recorded request\(s\) the driver never sent; the first, a netconf on lab-sw1\/netconf:[\s\S]*<unlock>/,
    );
  });

  it("a missing case recording fails the case instead of passing it", async () => {
    const dir = copy();
    rmSync(join(dir, DRIVER, `${CASE}.json`));
    await expect(replay(dir)).rejects.toThrow(/no recording of openconfig-macsec \/ stage-diff-rollback/);
  });
});

describe("contract replay: what counts as the same request", () => {
  const tape = (): CaseTape => ({
    driver: "sim",
    case: "c",
    title: "c",
    provenance: {} as Provenance,
    exchanges: [
      {
        channel: "d",
        kind: "exec",
        request: "commit linkcrypt-0123abcd at 2026-01-01T00:00:00Z",
        reply: { code: 0, stdout: "pending linkcrypt-0123abcd\n", stderr: "" },
      },
      { channel: "d", kind: "exec", request: "confirm linkcrypt-0123abcd", reply: { code: 0, stdout: "", stderr: "" } },
    ],
  });

  it("the driver's own token stands for the recorded one, in requests and replies; timestamps are normalised", async () => {
    const rp = new Replayer({});
    rp.begin(tape());
    const ssh = rp.ssh("d");
    expect((await ssh.exec("commit linkcrypt-99999999 at 2027-05-05T10:00:00Z")).stdout).toBe("pending linkcrypt-99999999\n");
    await ssh.exec("confirm linkcrypt-99999999");
    expect(rp.end()).toEqual({ mismatch: undefined, unsent: [] });
  });

  it("but it must stay the same token: confirming another one is a mismatch, even if the driver swallows the error", async () => {
    const rp = new Replayer({});
    rp.begin(tape());
    const ssh = rp.ssh("d");
    await ssh.exec("commit linkcrypt-99999999 at 2027-05-05T10:00:00Z");
    await ssh.exec("confirm linkcrypt-88888888").catch(() => undefined);
    const r = rp.end();
    expect(r.mismatch).toBeInstanceOf(ReplayMismatch);
    expect(r.mismatch?.message).toMatch(/- confirm linkcrypt-0123abcd\n\+ confirm linkcrypt-88888888/);
  });

  it("a secret is compared and answered as itself, and recorded only as its name", async () => {
    const rp = new Replayer({ cak: "c0ffee" });
    rp.begin({
      ...tape(),
      exchanges: [
        { channel: "d", kind: "shell", request: "key 0a0b {{secret:cak}}", reply: { code: 0, stdout: "key {{secret:cak}}", stderr: "" } },
      ],
    });
    const ssh = rp.ssh("d");
    expect((await ssh.shellScript(["key 0a0b c0ffee"])).stdout).toBe("key c0ffee");
    expect(rp.end().mismatch).toBeUndefined();
  });
});
