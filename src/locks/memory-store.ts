import type { Clock } from '../clock.js'
import { WritError } from '../errors.js'
import type { LockStore } from './store.js'
import { compareLocks, isLockActive, type Lock, type LockTarget } from './types.js'

export interface MemoryLockStoreOptions {
  /** Decides which locks have expired. */
  clock: Clock
  /** Throws when the store that owns these locks is closed (fail closed). */
  ensureOpen?: () => void
}

/** The memory lock store, with the synchronous check the memory grant store runs in `createGrant`. */
export interface MemoryLockStore extends LockStore {
  /** {@link LockStore.findLock}, synchronously: one step with the caller's own state change. */
  activeLock(targets: readonly LockTarget[]): Lock | null
}

const targetKey = (t: LockTarget): string => `${t.kind}\u0000${t.id}`
const copy = (lock: Lock): Lock => JSON.parse(JSON.stringify(lock)) as Lock

/**
 * The single-process lock store (the memory grant store's `locks`). Every method runs to
 * completion synchronously before its promise settles, so a lock is in force for the very next
 * call; expired locks read as absent and are dropped when met.
 */
export function createMemoryLockStore(options: MemoryLockStoreOptions): MemoryLockStore {
  const { clock } = options
  const ensureOpen = options.ensureOpen ?? (() => {})
  const locks = new Map<string, Lock>()
  /** Target → ids of the locks on it. */
  const byTarget = new Map<string, Set<string>>()

  const drop = (lock: Lock): void => {
    locks.delete(lock.id)
    const ids = byTarget.get(targetKey(lock.target))
    ids?.delete(lock.id)
    if (ids?.size === 0) byTarget.delete(targetKey(lock.target))
  }
  const live = (id: string, now: number): Lock | null => {
    const lock = locks.get(id)
    if (!lock) return null
    if (isLockActive(lock, now)) return lock
    drop(lock)
    return null
  }
  const activeLock = (targets: readonly LockTarget[]): Lock | null => {
    ensureOpen()
    const now = clock()
    for (const target of targets) {
      for (const id of [...(byTarget.get(targetKey(target)) ?? [])].sort()) {
        const lock = live(id, now)
        if (lock) return copy(lock)
      }
    }
    return null
  }

  return {
    activeLock,
    async putLock(lock) {
      ensureOpen()
      // Ensure a lock id is never reused: a second lock must not replace the first.
      if (locks.has(lock.id)) throw new WritError('server_error', 500, 'lock id already in use')
      locks.set(lock.id, copy(lock))
      const key = targetKey(lock.target)
      const ids = byTarget.get(key) ?? new Set<string>()
      ids.add(lock.id)
      byTarget.set(key, ids)
    },
    async getLock(id) {
      ensureOpen()
      const lock = live(id, clock())
      return lock ? copy(lock) : null
    },
    async removeLock(id) {
      ensureOpen()
      const lock = live(id, clock())
      if (!lock) return null
      drop(lock)
      return copy(lock)
    },
    async listLocks() {
      ensureOpen()
      const now = clock()
      return [...locks.keys()]
        .map((id) => live(id, now))
        .filter((l): l is Lock => l !== null)
        .map(copy)
        .sort(compareLocks)
    },
    async findLock(targets) {
      return activeLock(targets)
    },
  }
}
