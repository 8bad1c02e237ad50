import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openState } from "../../src/state/open.js";
import { startPostgres, type PgCluster } from "../lab/postgres.js";
import { KEY_A, stateContract, type ContractTarget } from "../unit/state-contract.js";

/** The StateStore contract on a real PostgreSQL: a throwaway cluster (initdb, private socket), stopped at the end. */
let cluster: PgCluster;
beforeAll(async () => {
  cluster = await startPostgres();
}, 120_000);
afterAll(async () => cluster?.stop());

let n = 0;
const uniq = () => `inv-${process.pid}-${n++}`;
const target = (): ContractTarget => ({
  open: (o = {}) =>
    openState({
      state: cluster.url,
      inventory: o.inventory ?? "x",
      stateKey: o.key?.startsWith("env:") ? o.key : "env:LC_TEST_STATE_KEY",
      secrets: { env: { LC_TEST_STATE_KEY: o.key && !o.key.startsWith("env:") ? o.key : KEY_A } },
    }),
  location: () => cluster.url,
  rawSecret: async (inv, name) => {
    const c = new pg.Client({ connectionString: cluster.url });
    await c.connect();
    try {
      return (
        (await c.query("SELECT sealed FROM lc_secrets WHERE ns = $1 AND name = $2", [inv, name])).rows[0] as { sealed: string } | undefined
      )?.sealed;
    } finally {
      await c.end();
    }
  },
});

describe("StateStore contract: PostgreSQL", () => {
  stateContract(target, uniq);
});

describe("PostgreSQL state", () => {
  it("needs a state key reference: there is no key file beside a shared database", async () => {
    const s = await openState({ state: cluster.url, inventory: uniq(), secrets: { env: {} }, env: {} });
    try {
      await expect(s.putSecret("macsec/l1", "x")).rejects.toThrow(
        /needs a state key to seal its secrets: give --state-key env:VAR, file:PATH, secrets:KEY or cmd:COMMAND/,
      );
    } finally {
      await s.close();
    }
  });

  it("an unreachable server is a typed error that does not show the password", async () => {
    await expect(
      openState({ state: "postgres://lc:hunter2-secret@/postgres?host=/nonexistent-socket-dir", inventory: "x", secrets: { env: {} } }),
    ).rejects.toMatchObject({
      code: "E_STATE",
      message: expect.not.stringContaining("hunter2-secret"),
    });
  });

  it("the journal is transactional: a batch that fails half-way leaves nothing", async () => {
    const inv = uniq();
    const s = await target().open({ inventory: inv });
    try {
      const bad = { at: "t", run: "r", step: "s", target: "x", state: "done" as const, detail: "ok" };
      // the second entry breaks a NOT NULL column: the first must not stay
      await expect(s.backend.write({ journal: [bad, { ...bad, run: null as unknown as string }] })).rejects.toMatchObject({
        code: "E_STATE",
      });
      expect(await s.journal()).toEqual([]);
    } finally {
      await s.close();
    }
  });
});
