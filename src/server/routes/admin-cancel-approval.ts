import type { Context } from 'hono'
import { z } from 'zod'
import { endApprovalRequests } from '../../approvals/requests/end-approval-requests.js'
import { epochSeconds } from '../../clock.js'
import { invalidRequest, WritError } from '../../errors.js'
import { formatIssues, friendlyErrors } from '../../validation.js'
import type { AppDeps } from '../deps.js'
import { readJsonObject } from '../json-body.js'

const bodySchema = z.object({ reason: z.string().trim().min(1).max(512) }).strict()

/**
 * `POST /admin/approvals/{id}/cancel` `{reason}`: an admin ends one approval request that is still
 * open (pending, or approved and not yet collected). From then on it takes no decision and its
 * client's poll answers `access_denied`; audited as `approval.revoked` with the reason. 404 when no
 * open request has that id (unknown, expired, decided and collected, or already ended).
 */
export function adminCancelApprovalRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const id = c.req.param('id') ?? ''
    if (id.length === 0 || id.length > 128) throw invalidRequest('id: expected 1 to 128 characters')
    const parsed = bodySchema.safeParse(await readJsonObject(c, deps.config.limits.bodyBytes), { error: friendlyErrors })
    if (!parsed.success) throw invalidRequest(formatIssues(parsed.error.issues).join('; '))
    const at = epochSeconds(deps.clock)
    const ended = await endApprovalRequests(deps.approvals, { approvalId: id }, { by: 'admin', reason: parsed.data.reason, at })
    if (ended === 0) throw new WritError('not_found', 404, `no open approval request with id ${JSON.stringify(id)}`)
    return c.json({ approval_id: id, status: 'revoked' }, 200, { 'Cache-Control': 'no-store' })
  }
}
