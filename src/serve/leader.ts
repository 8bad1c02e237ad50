import { type LockHolder, newLockHolder, type StateBackend } from "../state/store.js";

/**
 * Who leads among `serve` replicas. One backend connection of its own, under a namespace apart from the
 * inventory's (`<inventory>#serve`), so a running controller never holds the lock that `apply` and `rotate` take.
 * - PostgreSQL: a session-level advisory lock; PostgreSQL frees it when the leader's session ends (process killed),
 *   so a standby polling every second takes over within about a second of the leader's death.
 * - SQLite (one controller host): the store's lease; a holder whose process is gone is taken over at once.
 */
export interface Leadership {
  /** True when this replica leads now (acquired now, or already held). */
  tryAcquire(): Promise<boolean>;
  /** Still the leader? A lost database session means no: stop acting. */
  check(): Promise<boolean>;
  release(): Promise<void>;
  /** Who leads, for the standby's status (undefined when unknown). */
  holder?(): LockHolder | undefined;
}

export const SERVE_LEASE_MS = 15_000;

export function backendLeadership(backend: StateBackend, owner: string, leaseMs = SERVE_LEASE_MS): Leadership {
  const me = newLockHolder(owner);
  let held = false;
  let other: LockHolder | undefined;
  return {
    async tryAcquire() {
      if (held) return true;
      const r = await backend.tryLock({ ...me, heartbeat: Date.now() }, leaseMs);
      held = r.acquired;
      other = r.acquired ? undefined : r.holder;
      return held;
    },
    async check() {
      if (!held) return false;
      try {
        await backend.heartbeat(me.token);
        return true;
      } catch {
        held = false;
        return false;
      }
    },
    async release() {
      if (!held) return;
      held = false;
      await backend.unlock(me.token).catch(() => undefined);
    },
    holder: () => other,
  };
}

/** A single replica without a shared store: always the leader. */
export const soleLeader: Leadership = { tryAcquire: async () => true, check: async () => true, release: async () => undefined };
