import type { Context } from 'hono'
import { invalidRequest, WritError } from '../../errors.js'
import { issueGrant } from '../../grants/issue-grant.js'
import { AuthorizationDetailsCache, manifestFromTokenParams } from '../token-params.js'
import type { AppDeps } from '../deps.js'
import { readForm } from '../form.js'
import { tokenResponse } from '../token-response.js'

/**
 * `POST /oauth/token` (RFC 6749 §4.4 client credentials, with RFC 9396 authorization_details).
 * The manifest travels as `authorization_details` plus `task_id`, `task_purpose`, `requested_by`
 * and `ttl`, so an off-the-shelf OAuth client can ask for a task-scoped token.
 */
export function oauthTokenRoute(deps: AppDeps) {
  const detailsCache = new AuthorizationDetailsCache()
  return async (c: Context): Promise<Response> => {
    const params = await readForm(c, deps.config.limits.bodyBytes)
    const grantType = params.grant_type
    if (!grantType) throw invalidRequest('grant_type: required')
    if (grantType !== 'client_credentials') {
      throw new WritError('unsupported_grant_type', 400, `grant_type ${grantType} is not supported; use client_credentials`)
    }
    // Ensure the caller is a registered client before it learns anything about policy.
    const { clientId } = await deps.clients.authenticate({ authorization: c.req.header('authorization'), params })
    const manifest = manifestFromTokenParams(params, deps.config.limits.grants, detailsCache)
    const response = await issueGrant(deps.issue, { clientId, manifest })
    return tokenResponse(c, response)
  }
}
