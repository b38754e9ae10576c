import type { Context, Next } from 'hono'
import type { AppDeps } from '../deps.js'

/** Longest path kept in an event. */
const MAX_PATH = 256

/** Why a request that never got past the admin token check was refused, by its status. */
const REFUSALS: Record<number, string> = {
  429: 'admin token not checked: too many wrong tokens from this address',
  503: 'admin token not checked: too many admin tokens being checked',
}

/**
 * Middleware for `/admin/*`: audits every admin request that changes something (any method but
 * GET and HEAD) as `admin.action` with its outcome, and every refused admin token, or token
 * refused unchecked (429, 503), as `admin.auth_failed` (coalesced per window). Runs after the
 * request, so it records what happened; it never holds a request back or changes its answer. Does
 * nothing while the admin API is off.
 */
export function auditAdminRequests(deps: AppDeps) {
  return async (c: Context, next: Next): Promise<void> => {
    await next()
    if (!deps.admin.enabled) return
    const path = c.req.path.slice(0, MAX_PATH)
    const status = c.res.status
    if (status === 401) {
      deps.audit.noteRepeated('admin', {
        type: 'admin.auth_failed',
        actor: 'anonymous',
        path,
        reason: c.req.header('authorization') ? 'wrong or malformed admin token' : 'no admin token',
      })
      return
    }
    const refusal = REFUSALS[status]
    // Ensure a caller that never proved it holds the admin token is not recorded as the admin.
    if (c.get('adminAuthenticated') !== true) {
      if (refusal !== undefined) {
        deps.audit.noteRepeated(`admin:${status}`, {
          type: 'admin.auth_failed',
          actor: 'anonymous',
          path,
          reason: refusal,
        })
      }
      return
    }
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return
    const requestId = c.get('requestId') as string | undefined
    await deps.audit.note({
      type: 'admin.action',
      actor: 'admin',
      method: c.req.method,
      path,
      status,
      ...(requestId ? { request_id: requestId } : {}),
    })
  }
}
