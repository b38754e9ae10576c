import type { Context } from 'hono'
import { describeGrant } from '../../policy/index.js'
import type { AppDeps } from '../deps.js'

/**
 * `GET /admin/approvals`: approval requests still waiting for a human, soonest expiry first, each
 * with the URL an approver opens.
 */
export function adminListApprovalsRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const pending = await deps.approvals.store.listPending()
    return c.json(
      {
        approvals: pending.map(({ request, votes }) => ({
          id: request.id,
          approval_uri: `${deps.config.issuer}/approve/${request.id}`,
          client_id: request.clientId,
          task: request.manifest.task,
          grants: request.manifest.grants.map(describeGrant),
          requirements: request.requirements.map((r) => ({ rule: r.ruleId, approvers: r.approvers, from: r.from })),
          approved_by: votes.map((v) => v.sub),
          expires_at: request.expiresAt,
        })),
      },
      200,
      { 'Cache-Control': 'no-store' },
    )
  }
}
