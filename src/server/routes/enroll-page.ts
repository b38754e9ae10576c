import type { Context } from 'hono'
import { findInvite } from '../../approvals/enrolment/find-invite.js'
import { WritError } from '../../errors.js'
import type { AppDeps } from '../deps.js'
import { DEV_WARNING } from '../pages/approve-page.js'
import { renderEnrolmentPage } from '../pages/enroll-page.js'
import { pageResponse } from '../pages/layout.js'
import { renderMessagePage } from '../pages/message-page.js'

/** `GET /enroll/{invite}`: the enrolment page (HTML; 404 page for unknown, used or expired invites). */
export function enrollPageRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const token = c.req.param('invite') ?? ''
    try {
      const invite = await findInvite(deps.approvals, token)
      return pageResponse(c, renderEnrolmentPage(invite, token, deps.approvals.attestation.mode === 'relaxed'))
    } catch (err) {
      if (err instanceof WritError && err.code === 'not_found') {
        return pageResponse(c, renderMessagePage('Invite not valid', err.message, deps.approvals.attestation.mode === 'relaxed' ? DEV_WARNING : undefined), 404)
      }
      throw err
    }
  }
}
