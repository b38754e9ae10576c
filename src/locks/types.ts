import { normalizePersonId } from '../text/normalize-person-id.js'

/** What a lock holds: one client, one task (of any client), or one approver (a person). */
export type LockKind = 'client' | 'task' | 'approver'

/** The target of a lock: a client id, a task id, or an approver id as the policy lists it. */
export interface LockTarget {
  kind: LockKind
  id: string
}

/**
 * A lock (as Teleport's `tctl lock`): while it is active, its target gets no token, no approval
 * request, no vote and no collection, on every replica. Times are seconds since the epoch.
 */
export interface Lock {
  id: string
  target: LockTarget
  /** Operator text: why. Shown to the refused caller and kept in the audit log. */
  reason: string
  /** Who set it (`admin`). */
  by: string
  createdAt: number
  /** When it ends by itself; absent: until unlocked. */
  expiresAt?: number
}

/** Oldest first (by `createdAt`, then `id`): the order locks are listed in. */
export function compareLocks(a: Lock, b: Lock): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

/** Whether a lock is in force at `nowMs` (milliseconds, the store's clock). */
export function isLockActive(lock: Pick<Lock, 'expiresAt'>, nowMs: number): boolean {
  return lock.expiresAt === undefined || lock.expiresAt * 1000 > nowMs
}

/**
 * A lock target in its one spelling: an approver (a person, an email) in the normal form every
 * approver index uses (`normalizePersonId`), so `Alice@Example.com.` is locked with
 * `alice@example.com`. Client and task ids are exact. An approver id with no normal form (callers
 * validate admin input first) keeps its trimmed, lower-cased spelling.
 */
export function lockTarget(kind: LockKind, id: string): LockTarget {
  if (kind !== 'approver') return { kind, id }
  const person = normalizePersonId(id)
  return { kind, id: 'id' in person ? person.id : id.trim().toLowerCase() }
}

/** Every lock target a grant (or a request for one) meets: its client, its task, its approvers. */
export function lockTargetsOf(input: {
  clientId: string
  taskId: string
  approvers?: readonly string[] | undefined
}): LockTarget[] {
  const targets: LockTarget[] = [
    { kind: 'client', id: input.clientId },
    { kind: 'task', id: input.taskId },
  ]
  for (const sub of new Set(input.approvers ?? [])) targets.push(lockTarget('approver', sub))
  return targets
}
