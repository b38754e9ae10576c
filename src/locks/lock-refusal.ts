import { WritError } from '../errors.js'
import type { Lock } from './types.js'

/**
 * The refusal for a request a lock stops: RFC 6749 `access_denied` (403), naming the lock and the
 * operator's reason, so the caller knows whom to ask. Operator text is meant to be read by the
 * refused party; it carries nothing the lock's target should not know.
 */
export class LockRefusal extends WritError {
  constructor(readonly lockId: string, message: string) {
    super('access_denied', 403, message)
  }
}

/** The {@link LockRefusal} for `lock` (only its id when its record could not be read). */
export function lockRefusal(lock: Lock | { id: string }): LockRefusal {
  if (!('target' in lock)) return new LockRefusal(lock.id, `refused: locked by lock ${lock.id}`)
  const until = lock.expiresAt === undefined ? '' : ` until ${new Date(lock.expiresAt * 1000).toISOString()}`
  const { kind, id } = lock.target
  return new LockRefusal(lock.id, `refused: ${kind} ${id} is locked${until} (lock ${lock.id}: ${lock.reason})`)
}
