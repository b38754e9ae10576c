import type { Context } from 'hono'
import { invalidRequest, WritError } from '../../errors.js'
import type { AppDeps } from '../deps.js'
import { grantTree } from '../../grants/grant-tree.js'
import { grantDetail, revocationDetail, treeDetail } from './admin-views.js'

/** Longest grant id looked up (ours are 22 characters). */
const MAX_GRANT_ID_LENGTH = 128

/**
 * `GET /admin/grants/{id}`: a live grant in full, or the tombstone of a revoked one until the
 * grant's original expiry; 404 for anything else (unknown or expired). `children` lists the grants
 * delegated from it (token exchange), at every depth, with their states.
 */
export function adminGetGrantRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const id = c.req.param('id') ?? ''
    if (id.length > MAX_GRANT_ID_LENGTH) {
      throw invalidRequest(`id: at most ${MAX_GRANT_ID_LENGTH} characters (got ${id.length})`)
    }
    const found = await deps.store.findGrant(id)
    const headers = { 'Cache-Control': 'no-store' }
    if (found.state === 'unknown') {
      throw new WritError('not_found', 404, `no live or revoked grant with id ${JSON.stringify(id)}`)
    }
    // The grants delegated from it (token exchange), at every depth, with their states.
    const clientId = found.state === 'live' ? found.grant.clientId : found.revocation.clientId
    const tree = await grantTree(deps.store, { clientId, grantId: id })
    const family = { children: treeDetail(tree.children), ...(tree.truncated ? { children_truncated: true } : {}) }
    if (found.state === 'live') {
      return c.json({ state: 'live', grant: grantDetail(found.grant), ...family }, 200, headers)
    }
    const revocation = revocationDetail(found.revocation)
    return c.json({ state: 'revoked', revocation, ...family }, 200, headers)
  }
}
