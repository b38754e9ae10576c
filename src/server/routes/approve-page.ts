import type { Context } from 'hono'
import { getApprovalView } from '../../approvals/requests/get-approval-view.js'
import { WritError } from '../../errors.js'
import type { AppDeps } from '../deps.js'
import { DEV_WARNING, renderApprovalPage } from '../pages/approve-page.js'
import { CEREMONY_SCRIPT } from '../pages/ceremony-script.js'
import { pageResponse } from '../pages/layout.js'
import { renderMessagePage } from '../pages/message-page.js'

/** `GET /approve/{id}`: the server-rendered approval page (HTML; 404 page for unknown ids). */
export function approvePageRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    try {
      const view = await getApprovalView(deps.approvals, c.req.param('id') ?? '')
      return pageResponse(c, renderApprovalPage(view, deps.clock()))
    } catch (err) {
      if (err instanceof WritError && err.code === 'not_found') {
        return pageResponse(c, renderMessagePage('No such approval request', err.message, deps.approvals.attestation.mode === 'relaxed' ? DEV_WARNING : undefined), 404)
      }
      throw err
    }
  }
}

/** `GET /approve/ceremony.js`: the approval and enrolment pages' script. */
export function ceremonyScriptRoute(c: Context): Response {
  return c.body(CEREMONY_SCRIPT, 200, {
    'Content-Type': 'text/javascript; charset=utf-8',
    'Cache-Control': 'public, max-age=300',
  })
}
