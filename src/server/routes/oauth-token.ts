import type { Context } from 'hono'
import { invalidRequest, WritError } from '../../errors.js'
import { issueGrant } from '../../grants/issue-grant.js'
import { AuthorizationDetailsCache, manifestFromTokenParams } from '../token-params.js'
import { clientAddress } from '../client-address.js'
import type { AppDeps } from '../deps.js'
import { readFormWithLists } from '../form.js'
import { tokenResponse } from '../token-response.js'
import { authorizationCodeGrant } from './authorization-code-token.js'
import { CIBA_GRANT_TYPE, cibaTokenGrant } from './ciba-token.js'
import { TOKEN_EXCHANGE_GRANT_TYPE, tokenExchangeGrant } from './token-exchange.js'

/**
 * `POST /oauth/token` (RFC 6749 §4.4 client credentials, with RFC 9396 authorization_details).
 * The manifest travels as `authorization_details` plus `task_id`, `task_purpose`, `requested_by`
 * and `ttl`, so an off-the-shelf OAuth client can ask for a task-scoped token; or as `scope`
 * (names the policy's `scopes:` expand to grants; `task_id` is then optional). `resource` (RFC
 * 8707, may repeat) names the token's audience. A `DPoP` proof
 * header (RFC 9449) binds the token to the proof's key (`cnf.jkt`, `token_type: DPoP`).
 * `grant_type=urn:openid:params:grant-type:ciba` with `auth_req_id` collects an approved token
 * (CIBA poll mode; see `ciba-token.ts`).
 */
export function oauthTokenRoute(deps: AppDeps) {
  const detailsCache = new AuthorizationDetailsCache()
  return async (c: Context): Promise<Response> => {
    const dpopProof = c.req.header('dpop')
    // Every answer to a DPoP request carries the current nonce (RFC 9449 §8), errors included.
    if (dpopProof !== undefined) c.header('DPoP-Nonce', deps.dpop.nonce())
    const { params, lists } = await readFormWithLists(c, deps.config.limits.bodyBytes, ['resource'])
    const grantType = params.grant_type
    if (!grantType) throw invalidRequest('grant_type: required')
    // CIBA poll mode: collect the token of an approval request (`auth_req_id`).
    if (grantType === CIBA_GRANT_TYPE) return cibaTokenGrant(deps, c, params, dpopProof, lists.resource)
    // Authorization code with PKCE: a public client redeems the code a person consented to.
    if (grantType === 'authorization_code') {
      // RFC 8707 §2.2: a resource at the token request narrows the consented audience; one here.
      const resources = lists.resource ?? []
      if (resources.length > 1) {
        throw new WritError('invalid_target', 400, 'resource: name at most one when redeeming an authorization code')
      }
      const redeem = resources.length === 1 ? { ...params, resource: resources[0]! } : params
      return authorizationCodeGrant(deps, c, redeem, dpopProof)
    }
    // Token exchange (RFC 8693): delegation to a sub-agent, narrower only.
    if (grantType === TOKEN_EXCHANGE_GRANT_TYPE) {
      return tokenExchangeGrant(deps, c, params, dpopProof, detailsCache, lists.resource)
    }
    if (grantType !== 'client_credentials') {
      throw new WritError(
        'unsupported_grant_type',
        400,
        `grant_type ${grantType} is not supported; use client_credentials, authorization_code, ${CIBA_GRANT_TYPE} or ${TOKEN_EXCHANGE_GRANT_TYPE}`,
      )
    }
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
    const cnfJkt = await deps.dpop.verify({ header: dpopProof, method: 'POST', path: '/oauth/token' })
    // Client credentials cannot wait for a human: such manifests go through /oauth/bc-authorize.
    const response = await issueGrant(deps.issue, {
      clientId,
      manifest,
      whenApprovalNeeded: 'refuse',
      ...(cnfJkt ? { cnfJkt } : {}),
    })
    return tokenResponse(c, response)
  }
}
