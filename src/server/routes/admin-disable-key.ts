import type { Context } from 'hono'
import { z } from 'zod'
import { endApprovalRequests } from '../../approvals/requests/end-approval-requests.js'
import { grantRevokedEvent } from '../../grants/grant-revoked-event.js'
import { epochSeconds } from '../../clock.js'
import { invalidRequest, WritError } from '../../errors.js'
import { revokeGrants } from '../../grants/index.js'
import { formatIssues, friendlyErrors } from '../../validation.js'
import type { AppDeps } from '../deps.js'
import { readJsonObject } from '../json-body.js'

const bodySchema = z
  .object({
    /** Also revoke every live grant the key's owner approved. */
    revoke: z.boolean().optional(),
    reason: z.string().trim().min(1).max(512),
  })
  .strict()

/**
 * `POST /admin/approvers/keys/{credential_id}/disable` `{reason, revoke?}`: a lost or stolen key
 * can approve nothing from now on, and its votes on requests not yet collected stop counting (they
 * are checked again when the token is collected). With `revoke`, every live grant its owner
 * approved is revoked too, and every approval request holding the owner's vote and not yet
 * collected is ended (by person: the approver index does not tell one person's keys apart).
 * Audited as `approver.key_removed` (and `grant.revoked`, scope `approver`, and one
 * `approval.revoked` per request ended, with `revoke`).
 */
export function adminDisableKeyRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const credentialId = c.req.param('id') ?? ''
    if (credentialId.length === 0 || credentialId.length > 1024) {
      throw invalidRequest('credential_id: expected 1 to 1024 characters')
    }
    const value = await readJsonObject(c, deps.config.limits.bodyBytes)
    const parsed = bodySchema.safeParse(value, { error: friendlyErrors })
    if (!parsed.success) throw invalidRequest(formatIssues(parsed.error.issues).join('; '))
    const { reason, revoke } = parsed.data
    const key = await deps.approvals.store.getCredential(credentialId)
    if (!key) throw new WritError('not_found', 404, `no enrolled key with credential id ${JSON.stringify(credentialId)}`)
    const at = epochSeconds(deps.clock)
    // Ensure the key can approve nothing more before anything else happens.
    await deps.approvals.store.flagCredential(credentialId, { reason: 'disabled', at, detail: reason })
    // Audited once it took effect; an audit failure never undoes or blocks it.
    await deps.audit.note({
      type: 'approver.key_removed',
      actor: 'admin',
      approver: key.sub,
      credential_id: key.id,
      aaguid: key.aaguid,
      reason,
      ...(revoke ? { detail: { revoke: true } } : {}),
    })
    let revoked: number | undefined
    let approvalsRevoked: number | undefined
    if (revoke) {
      const why = `approver key disabled: ${reason}`
      // Ensure the owner's approvals not yet collected end before the grants are swept.
      approvalsRevoked = await endApprovalRequests(
        deps.approvals,
        { approver: key.sub },
        { by: 'admin', reason: why, at },
      )
      revoked = await revokeGrants(
        { store: deps.store },
        { approver: key.sub },
        { by: 'admin', reason: why, at },
      )
      await deps.audit.note(grantRevokedEvent('admin', { approver: key.sub }, why, revoked))
    }
    deps.logger.info('approver key disabled', { credentialId, approver: key.sub, revoked })
    return c.json(
      {
        disabled: true,
        approver: key.sub,
        ...(revoked !== undefined ? { revoked, approvals_revoked: approvalsRevoked } : {}),
      },
      200,
      { 'Cache-Control': 'no-store' },
    )
  }
}
