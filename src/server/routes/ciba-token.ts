import type { Context } from 'hono'
import { redeemApproval } from '../../approvals/requests/redeem-approval.js'
import { invalidRequest } from '../../errors.js'
import { clientAddress } from '../client-address.js'
import type { AppDeps } from '../deps.js'
import { tokenResponse } from '../token-response.js'

/** The CIBA grant type (OpenID CIBA Core §10.1), used here in its OAuth-only profile. */
export const CIBA_GRANT_TYPE = 'urn:openid:params:grant-type:ciba'

/**
 * `POST /oauth/token` with `grant_type=urn:openid:params:grant-type:ciba` and `auth_req_id`:
 * collects the token of an approval request (poll mode). The client authenticates as at the
 * token endpoint; a `DPoP` proof binds the token (and must use the request's key, if it had one).
 * `resource` (RFC 8707), when sent, must name exactly the resources the request was made (and
 * approved) for.
 * Errors follow CIBA §11: `authorization_pending`, `slow_down`, `access_denied`,
 * `expired_token`, `invalid_grant`.
 */
export async function cibaTokenGrant(
  deps: AppDeps,
  c: Context,
  params: Record<string, string>,
  dpopProof: string | undefined,
  resources: readonly string[] | undefined,
): Promise<Response> {
  // Ensure the caller is a registered client before it learns anything about the request.
  const { clientId } = await deps.clients.authenticate({
    authorization: c.req.header('authorization'),
    params,
    source: clientAddress(c, deps.config.limits),
  })
  const authReqId = params.auth_req_id
  if (!authReqId) throw invalidRequest('auth_req_id: required')
  for (const name of ['scope', 'authorization_details'] as const) {
    // Ensure a caller asking for other grants at collection is told the grants were fixed earlier.
    if (params[name] !== undefined) {
      throw invalidRequest(`${name}: not used when collecting a token; the grants were fixed at /oauth/bc-authorize`)
    }
  }
  const cnfJkt = await deps.dpop.verify({ header: dpopProof, method: 'POST', path: '/oauth/token' })
  const response = await redeemApproval(
    { ...deps.approvals, issue: deps.issue },
    { clientId, authReqId, cnfJkt, ...(resources && resources.length > 0 ? { resources } : {}) },
  )
  return tokenResponse(c, response)
}
