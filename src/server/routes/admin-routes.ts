import { Hono } from 'hono'
import { clientAddress } from '../client-address.js'
import type { AppDeps } from '../deps.js'
import { adminListApprovalsRoute } from './admin-approvals.js'
import { adminCancelApprovalRoute } from './admin-cancel-approval.js'
import { adminAuditRoutes } from './admin-audit.js'
import { adminDisableKeyRoute } from './admin-disable-key.js'
import { adminGetGrantRoute } from './admin-get-grant.js'
import { approveEvidenceRoute } from './approve-admin.js'
import { enrollInviteRoute, enrollKeysRoute } from './enroll-admin.js'
import { adminListKeysRoute, adminRotateKeysRoute } from './admin-keys.js'
import { adminListGrantsRoute } from './admin-list-grants.js'
import { adminApplyPolicyRoute } from './admin-policy.js'
import { adminCreateLockRoute, adminListLocksRoute, adminRemoveLockRoute } from './admin-locks.js'
import { adminRevocationsRoute } from './admin-revocations.js'

/** Set once the admin token checked out, so the audit tells the admin's calls from refusals. */
export type AdminEnv = { Variables: { adminAuthenticated: boolean } }

/**
 * The admin API, mounted at `/admin`. Every route (and every unknown path under it) first checks
 * the admin bearer token; without `admin.tokenHash` configured, every route answers 404. Wrong
 * tokens are limited per caller address (`limits.adminAuthFailure*`; the address: `clientAddress`).
 */
export function adminRoutes(deps: AppDeps): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>()
  app.use('*', async (c, next) => {
    // Ensure nothing under /admin runs for a caller without the admin token.
    await deps.admin.authenticate(
      c.req.header('authorization'),
      clientAddress(c, deps.config.limits),
    )
    c.set('adminAuthenticated', true)
    await next()
  })
  app.route('/audit', adminAuditRoutes(deps))
  app.get('/grants', adminListGrantsRoute(deps))
  app.get('/grants/:id', adminGetGrantRoute(deps))
  app.post('/revocations', adminRevocationsRoute(deps))
  app.post('/locks', adminCreateLockRoute(deps))
  app.get('/locks', adminListLocksRoute(deps))
  app.delete('/locks/:id', adminRemoveLockRoute(deps))
  app.get('/keys', adminListKeysRoute(deps))
  app.get('/approvals', adminListApprovalsRoute(deps))
  app.get('/approvals/:id/evidence', approveEvidenceRoute(deps))
  app.post('/approvals/:id/cancel', adminCancelApprovalRoute(deps))
  app.post('/approvers/invites', enrollInviteRoute(deps))
  app.get('/approvers/keys', enrollKeysRoute(deps))
  app.post('/approvers/keys/:id/disable', adminDisableKeyRoute(deps))
  app.post('/keys/rotate', adminRotateKeysRoute(deps))
  app.post('/policy', adminApplyPolicyRoute(deps))
  return app
}
