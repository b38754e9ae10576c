import type { Context } from 'hono'
import { WritError } from '../../errors.js'
import type { AppDeps } from '../deps.js'

/**
 * `GET /admin/approvals/{id}/evidence`: the evidence kept when an approved request was redeemed
 * (manifest, approvers' keys and raw assertions), for offline re-verification with
 * `verifyApprovalFromChain` (`writ audit verify-approval`), which trusts none of it: each vote is
 * checked under the key the audit chain recorded at enrolment. `{id}` is the approval id, which
 * the token's `approval.id` claim and the grant's `approval.id` carry.
 */
export function approveEvidenceRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const evidence = await deps.approvals.store.getEvidence(c.req.param('id') ?? '')
    if (!evidence) throw new WritError('not_found', 404, 'no approval evidence with this id')
    return c.json(evidence, 200, { 'Cache-Control': 'no-store' })
  }
}
