import type { Context } from 'hono'
import { z } from 'zod'
import { approverId } from '../../approvals/requests/approver-id.js'
import { endApprovalRequests } from '../../approvals/requests/end-approval-requests.js'
import type { ApprovalScope } from '../../approvals/store/store.js'
import { grantRevokedEvent } from '../../grants/grant-revoked-event.js'
import { epochSeconds } from '../../clock.js'
import { invalidRequest, WritError } from '../../errors.js'
import { revokeGrants, type RevocationTarget } from '../../grants/index.js'
import { createLock, type Lock, lockTarget, type LockTarget, removeLock } from '../../locks/index.js'
import { formatIssues, friendlyErrors } from '../../validation.js'
import type { AppDeps } from '../deps.js'
import { readJsonObject } from '../json-body.js'
import { requireExactlyOne } from '../require-exactly-one.js'

const TARGETS = ['client_id', 'task_id', 'approver'] as const

/** The longest lock TTL: a year. A lock meant to last longer has no TTL. */
const MAX_LOCK_TTL_SECONDS = 366 * 24 * 3600

const bodySchema = z
  .object({
    client_id: z.string().min(1).max(256).optional(),
    task_id: z.string().min(1).max(128).optional(),
    approver: z.string().min(1).max(256).optional(),
    reason: z.string().trim().min(1).max(512),
    ttl_seconds: z.number().int().min(1).max(MAX_LOCK_TTL_SECONDS).optional(),
    revoke: z.boolean().optional(),
  })
  .strict()

type LockBody = z.output<typeof bodySchema>

function targetOf(body: LockBody): LockTarget {
  // Ensure the request names exactly one thing to lock: never guess between two.
  requireExactlyOne(body, TARGETS)
  if (body.client_id !== undefined) return { kind: 'client', id: body.client_id }
  if (body.task_id !== undefined) return { kind: 'task', id: body.task_id }
  return lockTarget('approver', approverId(body.approver!))
}

const revocationTarget = (target: LockTarget): RevocationTarget =>
  target.kind === 'client'
    ? { clientId: target.id }
    : target.kind === 'task'
      ? { taskId: target.id }
      : { approver: target.id }

/** A lock as the admin API shows it. */
export function lockJson(lock: Lock): Record<string, unknown> {
  const field = { client: 'client_id', task: 'task_id', approver: 'approver' }[lock.target.kind]
  return {
    id: lock.id,
    [field]: lock.target.id,
    reason: lock.reason,
    by: lock.by,
    created_at: lock.createdAt,
    ...(lock.expiresAt !== undefined ? { expires_at: lock.expiresAt } : {}),
  }
}

const NO_STORE = { 'Cache-Control': 'no-store' }

/**
 * `POST /admin/locks` `{client_id | task_id | approver, reason, ttl_seconds?, revoke?}`: locks the
 * target on every replica at once, and (unless `revoke: false`) revokes its live grants and ends
 * its approval requests not yet collected (`approval.revoked`). Answers
 * 201 `{lock, revoked?}`. Audited as `lock.created` (and `grant.revoked` for the sweep).
 */
export function adminCreateLockRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const value = await readJsonObject(c, deps.config.limits.bodyBytes)
    const parsed = bodySchema.safeParse(value, { error: friendlyErrors })
    if (!parsed.success) throw invalidRequest(formatIssues(parsed.error.issues).join('; '))
    const target = targetOf(parsed.data)
    const { reason, ttl_seconds: ttlSeconds } = parsed.data
    const { lock, revoked } = await createLock(
      {
        locks: deps.store.locks,
        clock: deps.clock,
        audit: deps.audit,
        async revokeLiveGrants(t, why) {
          const scope = revocationTarget(t)
          const at = epochSeconds(deps.clock)
          // Ensure approvals not yet collected end too, as every revocation ends them: else a
          // request approved before the lock would mint its token once the lock is lifted.
          const approvals: ApprovalScope =
            t.kind === 'client' ? { clientId: t.id } : t.kind === 'task' ? { taskId: t.id } : { approver: t.id }
          await endApprovalRequests(deps.approvals, approvals, { by: 'admin', reason: why, at })
          const count = await revokeGrants(deps, scope, { by: 'admin', reason: why, at })
          await deps.audit.note(grantRevokedEvent('admin', scope, why, count))
          return count
        },
      },
      {
        target,
        reason,
        ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
        revoke: parsed.data.revoke ?? true,
        by: 'admin',
      },
    )
    deps.logger.info('lock created', { lockId: lock.id, target, reason, revoked })
    const body = { lock: lockJson(lock), ...(revoked !== undefined ? { revoked } : {}) }
    return c.json(body, 201, NO_STORE)
  }
}

/** `GET /admin/locks`: every active lock, oldest first. */
export function adminListLocksRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const locks = await deps.store.locks.listLocks()
    return c.json({ locks: locks.map(lockJson) }, 200, NO_STORE)
  }
}

/** `DELETE /admin/locks/{id}`: ends a lock at once on every replica; audited as `lock.removed`. */
export function adminRemoveLockRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const id = c.req.param('id') ?? ''
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw invalidRequest('id: expected a lock id (see GET /admin/locks)')
    const lock = await removeLock({ locks: deps.store.locks, audit: deps.audit }, id, 'admin')
    if (!lock) throw new WritError('not_found', 404, `no active lock with id ${JSON.stringify(id)}`)
    deps.logger.info('lock removed', { lockId: lock.id, target: lock.target })
    return c.json({ lock: lockJson(lock) }, 200, NO_STORE)
  }
}
