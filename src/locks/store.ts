import type { Lock, LockTarget } from './types.js'

/**
 * Where locks live: shared state every replica reads on the request it refuses, never a cache.
 * Both grant stores carry one (`GrantStore.locks`), so `createGrant` can honour locks in the same
 * atomic step as it records a grant. Two implementations (memory and Redis) pass one contract
 * suite (`test/locks/store-contract.ts`). Every method throws a WritError
 * `temporarily_unavailable` (503) when the backing service is unreachable, so callers fail closed.
 */
export interface LockStore {
  /** Records a lock; in force from the moment this resolves. An id in use is a `server_error`. */
  putLock(lock: Lock): Promise<void>
  /** The lock with this id while it is active, else null. */
  getLock(id: string): Promise<Lock | null>
  /** Ends a lock at once; returns it, or null when no active lock has this id. */
  removeLock(id: string): Promise<Lock | null>
  /** Every active lock, oldest first (by `createdAt`, then `id`). */
  listLocks(): Promise<Lock[]>
  /** An active lock on any of `targets` (the first target's first), or null when none is locked. */
  findLock(targets: readonly LockTarget[]): Promise<Lock | null>
}
