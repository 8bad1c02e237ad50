import fc from "fast-check";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LinkcryptError } from "../../../src/errors.js";
import { importLegacyDir } from "../../../src/state/open.js";
import { fuzzAsync, nastyString } from "./fuzz.js";

const root = mkdtempSync(join(tmpdir(), "lc-state-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Enough of a StateStore for the one-time import: it records what would be written. */
function fakeStore() {
  const written: unknown[] = [];
  return {
    written,
    store: {
      ns: "t",
      where: "fake.sqlite",
      backend: { getMeta: async () => undefined, write: async (x: unknown) => void written.push(x) },
      checkKey: async () => Buffer.alloc(32, 7),
    } as never,
  };
}
let n = 0;
const legacy = (files: Record<string, string>) => {
  const dir = join(root, `d${n++}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text, { mode: 0o600 });
  return dir;
};

describe("fuzz findings: corrupt state files (F-6)", () => {
  it("a corrupt journal line is skipped and counted, a corrupt secrets.json is an InputError, a corrupt apply.lock is not read", async () => {
    const f = fakeStore();
    const said: string[] = [];
    const dir = legacy({
      "journal.jsonl": 'garbage\n{"at":1}\nnull\n{"at":"t","run":"r","step":"s","target":"x","state":"done"}\n',
      "apply.lock": "{not json",
      "secrets.json": '{"macsec/ab": "null", "k": "{\\"createdAt\\": 5}"}',
    });
    const r = await importLegacyDir(f.store, dir, (l) => said.push(l));
    expect(r).toEqual({ entries: 1, keys: 2 });
    expect(said.join("\n")).toMatch(/3 unreadable lines skipped/);
    for (const bad of ["{", "[1,2]", "null", "7"]) {
      const e = await importLegacyDir(fakeStore().store, legacy({ "secrets.json": bad }), () => undefined).catch((x: unknown) => x);
      expect(e, bad).toBeInstanceOf(LinkcryptError);
      expect((e as Error).message).toMatch(/cannot import .*secrets\.json.*nothing was imported/);
    }
  });
});

describe("fuzz: legacy state files", () => {
  it("any journal.jsonl and secrets.json: imported, or a typed error", async () => {
    const jsonish = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? "null"),
      nastyString(30),
    );
    await fuzzAsync(
      "state-legacy-files",
      fc.tuple(
        fc.array(jsonish, { maxLength: 5 }),
        fc.option(
          fc.oneof(
            jsonish,
            fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 20 }), jsonish)).map((d) => JSON.stringify(d)),
          ),
          { nil: undefined },
        ),
      ),
      async ([lines, secrets]) => {
        const dir = legacy({ "journal.jsonl": lines.join("\n"), ...(secrets === undefined ? {} : { "secrets.json": secrets }) });
        try {
          await importLegacyDir(fakeStore().store, dir, () => undefined);
        } catch (e) {
          expect(e, String(e)).toBeInstanceOf(LinkcryptError);
        }
      },
      300,
    );
  });
});
