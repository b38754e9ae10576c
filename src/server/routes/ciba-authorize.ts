import type { Context } from 'hono'
import { startBackchannelRequest } from '../../approvals/requests/start-backchannel-request.js'
import { clientAddress } from '../client-address.js'
import type { AppDeps } from '../deps.js'
import { readFormWithLists } from '../form.js'
import { AuthorizationDetailsCache, manifestFromTokenParams } from '../token-params.js'

/**
 * `POST /oauth/bc-authorize`: CIBA backchannel authentication, poll mode, OAuth-only profile (no
 * `openid` scope, no login hint: the approvers are the policy's). The client authenticates as at
 * the token endpoint and describes the task with the same parameters as `client_credentials`
 * (`authorization_details`, `task_id`, `task_purpose`, `requested_by`, `ttl`). Answers
 * `{auth_req_id, expires_in, interval}` for any request the policy allows; poll the token
 * endpoint with `grant_type=urn:openid:params:grant-type:ciba`.
 */
export function cibaAuthorizeRoute(deps: AppDeps) {
  const detailsCache = new AuthorizationDetailsCache()
  return async (c: Context): Promise<Response> => {
    const { params, lists } = await readFormWithLists(c, deps.config.limits.bodyBytes, ['resource'])
    // Ensure the caller is a registered client before it learns anything about policy.
    const { clientId } = await deps.clients.authenticate({
      authorization: c.req.header('authorization'),
      params,
      source: clientAddress(c, deps.config.limits),
    })
    const manifest = manifestFromTokenParams(params, deps.config.limits.grants, detailsCache, {
      policy: deps.policy.current(),
      ...(lists.resource ? { resources: lists.resource } : {}),
    })
    const response = await startBackchannelRequest(
      { ...deps.approvals, limits: deps.config.tokens },
      { clientId, manifest },
    )
    return c.json(response, 200, { 'Cache-Control': 'no-store' })
  }
}
