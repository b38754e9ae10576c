import type { Auditor } from '../audit/create-auditor.js'
import type { LockStore } from './store.js'
import type { Lock } from './types.js'

/**
 * Ends a lock at once, on every replica (`writ unlock ID`); audited as `lock.removed`. Answers the
 * lock, or null when no active lock has this id (unknown, expired, or removed already): nothing is
 * audited then. Grants the lock revoked stay revoked.
 */
export async function removeLock(
  deps: { locks: Pick<LockStore, 'removeLock'>; audit: Pick<Auditor, 'note'> },
  id: string,
  by: 'admin',
): Promise<Lock | null> {
  const lock = await deps.locks.removeLock(id)
  if (!lock) return null
  await deps.audit.note({
    type: 'lock.removed',
    actor: by,
    lock: lock.id,
    target_kind: lock.target.kind,
    target: lock.target.id,
    reason: lock.reason,
  })
  return lock
}
