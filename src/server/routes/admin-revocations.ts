import type { Context } from 'hono'
import { z } from 'zod'
import { endApprovalRequests } from '../../approvals/requests/end-approval-requests.js'
import type { ApprovalScope } from '../../approvals/store/store.js'
import { grantRevokedEvent } from '../../grants/grant-revoked-event.js'
import { epochSeconds } from '../../clock.js'
import { invalidRequest } from '../../errors.js'
import { approverId } from '../../approvals/requests/approver-id.js'
import { revokeTarget, type RevocationTarget } from '../../grants/index.js'
import { formatIssues, friendlyErrors } from '../../validation.js'
import type { AppDeps } from '../deps.js'
import { readJsonObject } from '../json-body.js'
import { requireExactlyOne } from '../require-exactly-one.js'

const TARGETS = ['grant_id', 'task_id', 'client_id', 'approver', 'all'] as const

const bodySchema = z
  .object({
    grant_id: z.string().min(1).max(128).optional(),
    task_id: z.string().min(1).max(128).optional(),
    client_id: z.string().min(1).max(256).optional(),
    approver: z.string().min(1).max(256).optional(),
    all: z.literal(true).optional(),
    reason: z.string().trim().min(1).max(512),
  })
  .strict()

type RevocationBody = z.output<typeof bodySchema>

function targetOf(body: RevocationBody): RevocationTarget {
  // Ensure the request names exactly one thing to revoke: never guess between two.
  requireExactlyOne(body, TARGETS)
  if (body.grant_id !== undefined) return { grantId: body.grant_id }
  if (body.task_id !== undefined) return { taskId: body.task_id }
  if (body.client_id !== undefined) return { clientId: body.client_id }
  // Ensure every spelling of the person reaches the one index their approvals are under.
  if (body.approver !== undefined) return { approver: approverId(body.approver) }
  return { all: true }
}

/** The approval requests a revocation target reaches; one grant reaches none. */
function approvalScopeOf(target: RevocationTarget): ApprovalScope | null {
  if ('grantId' in target) return null
  if ('taskId' in target) return { taskId: target.taskId }
  if ('clientId' in target) return { clientId: target.clientId }
  if ('approver' in target) return { approver: target.approver }
  return { all: true }
}

/**
 * `POST /admin/revocations`: revokes one grant, a task's grants, a client's grants, every grant an
 * approver approved, or everything, and answers how many grants were revoked (`revoked`, grants
 * delegated from them included; `descendants_revoked` says how many of those there were). The body is JSON
 * with exactly one of `grant_id`, `task_id`, `client_id`, `approver`, `all: true`, and a `reason`
 * (kept in each tombstone).
 *
 * Every scope but one grant also ends the matching approval requests not yet collected (pending,
 * or approved and uncollected; for `approver`, those holding that person's vote), first, so none
 * of them mints a token afterwards: `approvals_revoked` says how many.
 */
export function adminRevocationsRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const value = await readJsonObject(c, deps.config.limits.bodyBytes)
    const parsed = bodySchema.safeParse(value, { error: friendlyErrors })
    if (!parsed.success) throw invalidRequest(formatIssues(parsed.error.issues).join('; '))
    const target = targetOf(parsed.data)
    const at = epochSeconds(deps.clock)
    const scope = approvalScopeOf(target)
    // Ensure approvals not yet collected end before the grants are swept, so a token being
    // collected now is either refused or already recorded as a grant the sweep finds.
    const approvalsRevoked =
      scope === null
        ? 0
        : await endApprovalRequests(deps.approvals, scope, { by: 'admin', reason: parsed.data.reason, at })
    const counts = await revokeTarget(deps, target, { by: 'admin', reason: parsed.data.reason, at })
    const revoked = counts.revoked + counts.descendants
    deps.logger.info('grants revoked', { by: 'admin', target, reason: parsed.data.reason, revoked })
    // Audited once the revocation took effect; an audit failure never undoes or blocks it.
    await deps.audit.note(grantRevokedEvent('admin', target, parsed.data.reason, revoked))
    const body = { revoked, descendants_revoked: counts.descendants, approvals_revoked: approvalsRevoked }
    return c.json(body, 200, { 'Cache-Control': 'no-store' })
  }
}
