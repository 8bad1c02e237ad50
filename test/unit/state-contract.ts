import { spawn } from "node:child_process";
import { expect, it } from "vitest";
import { StateKeyError } from "../../src/state/cipher.js";
import type { JournalEntry, StateStore } from "../../src/state/store.js";

/**
 * The StateStore contract: every backend passes the same cases. `open` opens one more store (its own connection or
 * handle) on the same location; `location` is what a separate process passes as --state.
 */
export interface ContractTarget {
  open(o?: { inventory?: string; key?: string; leaseMs?: number }): Promise<StateStore>;
  location(): string;
  /** The raw sealed text of a secret, straight from the database. */
  rawSecret(inventory: string, name: string): Promise<string | undefined>;
}

export const KEY_A = "a".repeat(64);
export const KEY_B = "correct horse battery staple, but longer than 32";

const entry = (run: string, step: string, target: string, state: JournalEntry["state"], detail?: string): JournalEntry => ({
  at: new Date().toISOString(),
  run,
  step,
  target,
  state,
  ...(detail ? { detail } : {}),
});

export function stateContract(t: () => ContractTarget, uniq: () => string): void {
  it("journal: entries come back in order, detail kept only where given", async () => {
    const inv = uniq();
    const s = await t().open({ inventory: inv });
    try {
      await s.append(entry("r1", "stage", "l1", "started"));
      await s.append(entry("r1", "commit", "l1", "started", "confirm deadline 2030-01-01T00:00:00.000Z"));
      await s.append(entry("r1", "commit", "l1", "done"));
      const j = await s.journal();
      expect(j.map((e) => `${e.step}:${e.state}`)).toEqual(["stage:started", "commit:started", "commit:done"]);
      expect(j[0]).not.toHaveProperty("detail");
      expect(j[1]!.detail).toMatch(/^confirm deadline/);
    } finally {
      await s.close();
    }
  });

  it("inventories are apart: one's journal, keys and lock are not another's", async () => {
    const [a, b] = [uniq(), uniq()];
    const sa = await t().open({ inventory: a });
    const sb = await t().open({ inventory: b });
    try {
      await sa.append(entry("r", "stage", "x", "done"));
      await sa.putSecret("macsec/x", "one");
      await sa.lock("a");
      await sb.lock("b"); // not refused: another inventory
      expect(await sb.journal()).toEqual([]);
      expect(await sb.getSecret("macsec/x")).toBeUndefined();
    } finally {
      await sa.close();
      await sb.close();
    }
  });

  it("secrets are sealed at rest (AES-256-GCM) and open again, also from another handle; key ages are kept beside them", async () => {
    const inv = uniq();
    const s = await t().open({ inventory: inv });
    const value = JSON.stringify({ ckn: "c".repeat(64), cak: "d".repeat(64), cryptoAlgorithm: "AES_256_CMAC" });
    try {
      await s.putSecrets({ "macsec/l1": value, "macsec/l2": "second" }, entry("r", "keys", "macsec/l1 macsec/l2", "done", "generated 2"));
      const raw = await t().rawSecret(inv, "macsec/l1");
      expect(raw).toMatch(/^v1:[A-Za-z0-9+/=]+$/);
      expect(raw).not.toContain("d".repeat(16));
      expect(Buffer.from(raw!.slice(3), "base64").toString("latin1")).not.toContain("dddd");
      expect((await s.journal()).map((e) => e.step)).toEqual(["keys"]);
      expect(JSON.stringify(await s.journal())).not.toContain("d".repeat(16));
      expect(Date.parse((await s.secretCreatedAt("macsec/l1"))!)).toBeGreaterThan(Date.now() - 60_000);
    } finally {
      await s.close();
    }
    const again = await t().open({ inventory: inv });
    try {
      expect(await again.getSecret("macsec/l1")).toBe(value);
      expect(await again.getSecret("macsec/none")).toBeUndefined();
    } finally {
      await again.close();
    }
  });

  it("a wrong state key is a clear typed error, and nothing is lost", async () => {
    const inv = uniq();
    const s = await t().open({ inventory: inv });
    await s.putSecret("macsec/l1", "precious");
    await s.close();
    const wrong = await t().open({ inventory: inv, key: KEY_B });
    try {
      await expect(wrong.getSecret("macsec/l1")).rejects.toThrow(StateKeyError);
      await expect(wrong.checkKey()).rejects.toThrow(/is not the key .* was sealed with; nothing was changed/);
      await expect(wrong.putSecret("macsec/l2", "x")).rejects.toMatchObject({ code: "E_STATE_KEY" });
    } finally {
      await wrong.close();
    }
    const right = await t().open({ inventory: inv });
    try {
      expect(await right.getSecret("macsec/l1")).toBe("precious");
      expect(await right.getSecret("macsec/l2")).toBeUndefined();
    } finally {
      await right.close();
    }
  });

  it("a missing state key (unset env: reference) is a clear typed error", async () => {
    const inv = uniq();
    const s = await t().open({ inventory: inv, key: "env:LC_TEST_NO_SUCH_KEY" });
    try {
      await expect(s.putSecret("macsec/l1", "x")).rejects.toThrow(
        /cannot read the state key: secret env:LC_TEST_NO_SUCH_KEY: environment variable LC_TEST_NO_SUCH_KEY is not set/,
      );
      await expect(s.getSecret("macsec/l1")).resolves.toBeUndefined(); // nothing stored, nothing needed
    } finally {
      await s.close();
    }
  });

  it("a sealed value moved under another name does not open", async () => {
    const inv = uniq();
    const s = await t().open({ inventory: inv });
    try {
      await s.putSecret("macsec/l1", "one");
      const raw = await t().rawSecret(inv, "macsec/l1");
      await s.backend.write({ secrets: [{ name: "macsec/l2", sealed: raw!, createdAt: new Date().toISOString() }] });
      await expect(s.getSecret("macsec/l2")).rejects.toThrow(/does not open with the state key/);
      expect(await s.getSecret("macsec/l1")).toBe("one");
    } finally {
      await s.close();
    }
  });

  it("lock: a second holder is refused, naming the first; after unlock it gets the lock", async () => {
    const inv = uniq();
    const [a, b] = [await t().open({ inventory: inv }), await t().open({ inventory: inv })];
    try {
      await a.lock("apply plan-a.json");
      await expect(b.lock("apply plan-b.json")).rejects.toThrow(
        /another run holds the state lock of .*: apply plan-a\.json \(pid \d+ on .*, since .*\); nothing was done/,
      );
      await expect(b.lock("x")).rejects.toMatchObject({ code: "E_LOCKED" });
      await a.unlock();
      await b.lock("apply plan-b.json");
      expect(b.locked).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("lock: a waiting second holder gets it once the first lets go", async () => {
    const inv = uniq();
    const [a, b] = [await t().open({ inventory: inv }), await t().open({ inventory: inv })];
    try {
      await a.lock("first");
      setTimeout(() => void a.unlock(), 400);
      const t0 = Date.now();
      await b.lock("second", { waitMs: 10_000 });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("lock: of many racing at once, exactly one gets it", async () => {
    for (let round = 0; round < 5; round++) {
      const inv = uniq();
      const stores = await Promise.all(Array.from({ length: 4 }, () => t().open({ inventory: inv })));
      try {
        const r = await Promise.allSettled(stores.map((s, i) => s.lock(`racer ${i}`)));
        expect(r.filter((x) => x.status === "fulfilled")).toHaveLength(1);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    }
  });

  it("lock: a holder killed with SIGKILL is taken over by the next run, which sees its journal", async () => {
    const inv = uniq();
    const child = spawn(process.execPath, ["--import", "tsx", "test/lab/state-holder.ts", t().location(), inv], {
      env: { ...process.env, LC_TEST_STATE_KEY: KEY_A },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let said = "";
    child.stdout.on("data", (d: Buffer) => (said += d.toString()));
    child.stderr.on("data", (d: Buffer) => (said += d.toString()));
    const until = Date.now() + 20_000;
    while (!said.includes("locked")) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`the holder never locked: ${said}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const s = await t().open({ inventory: inv });
    try {
      await expect(s.lock("next run")).rejects.toMatchObject({ code: "E_LOCKED" });
      child.kill("SIGKILL");
      await new Promise((r) => child.once("exit", r));
      const took = await s.lock("next run", { waitMs: 10_000 });
      expect(took.tookOverFrom).toMatchObject({ owner: "state-holder (test)", pid: child.pid });
      expect((await s.journal()).map((e) => `${e.run}:${e.step}:${e.state}`)).toEqual(["holder:stage:started"]);
    } finally {
      child.kill("SIGKILL");
      await s.close();
    }
  });
}
