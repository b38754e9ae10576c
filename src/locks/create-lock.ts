import type { Auditor } from '../audit/create-auditor.js'
import { type Clock, epochSeconds } from '../clock.js'
import { randomId } from '../random-id.js'
import type { LockStore } from './store.js'
import type { Lock, LockTarget } from './types.js'

export interface CreateLockDeps {
  locks: Pick<LockStore, 'putLock'>
  clock: Clock
  audit: Pick<Auditor, 'note'>
  /**
   * Revokes every live grant of the target (the grants module's `revokeGrants`) and answers how
   * many it revoked; `reason` goes into each tombstone.
   */
  revokeLiveGrants: (target: LockTarget, reason: string) => Promise<number>
}

export interface CreateLockInput {
  target: LockTarget
  reason: string
  /** The lock ends by itself after this many seconds; absent: until unlocked. */
  ttlSeconds?: number
  /** Also revoke the target's live grants (the default); false leaves issued tokens live. */
  revoke: boolean
  /** Who sets it. */
  by: 'admin'
}

/**
 * Locks a client, a task or an approver (as Teleport's `tctl lock`): from the moment this
 * resolves, every replica refuses the target new tokens, approval requests, votes and
 * collections, and (unless `revoke` is false) every grant it held is revoked. The lock is stored
 * before the sweep, and the grant store checks locks in the same atomic write that records a grant,
 * so no grant slips between the two: one recorded before the lock is revoked by the sweep, none is
 * recorded after it. Audited as `lock.created` with the number of grants revoked.
 */
export async function createLock(
  deps: CreateLockDeps,
  input: CreateLockInput,
): Promise<{ lock: Lock; revoked?: number }> {
  const now = epochSeconds(deps.clock)
  const lock: Lock = {
    id: randomId(),
    target: input.target,
    reason: input.reason,
    by: input.by,
    createdAt: now,
    ...(input.ttlSeconds !== undefined ? { expiresAt: now + input.ttlSeconds } : {}),
  }
  await deps.locks.putLock(lock)
  const revoked = input.revoke
    ? await deps.revokeLiveGrants(input.target, `locked (lock ${lock.id}): ${input.reason}`)
    : undefined
  await deps.audit.note({
    type: 'lock.created',
    actor: input.by,
    lock: lock.id,
    target_kind: lock.target.kind,
    target: lock.target.id,
    reason: lock.reason,
    ...(lock.expiresAt !== undefined ? { expires_at: lock.expiresAt } : {}),
    ...(revoked !== undefined ? { revoked } : {}),
  })
  return revoked === undefined ? { lock } : { lock, revoked }
}
