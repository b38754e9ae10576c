import { lockRefusal } from './lock-refusal.js'
import type { LockStore } from './store.js'
import type { LockTarget } from './types.js'

/**
 * Refuses (a {@link LockRefusal}, `access_denied` 403) when any of `targets` has an active lock:
 * read from the store on every call, so a lock set on any replica holds for the very next request.
 */
export async function assertUnlocked(
  locks: Pick<LockStore, 'findLock'>,
  targets: readonly LockTarget[],
): Promise<void> {
  const lock = await locks.findLock(targets)
  // Ensure a locked client, task or approver gets nothing from this request.
  if (lock) throw lockRefusal(lock)
}
