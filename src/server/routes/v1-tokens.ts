import type { Context } from 'hono'
import { issueGrant } from '../../grants/issue-grant.js'
import { parseManifest } from '../../manifest/index.js'
import { clientAddress } from '../client-address.js'
import type { AppDeps } from '../deps.js'
import { readBody } from '../body.js'
import { mediaType } from '../form.js'
import { tokenResponse } from '../token-response.js'

/**
 * `POST /v1/tokens`: the native route. The body is the task manifest itself, JSON or YAML; the
 * client authenticates with HTTP Basic (client_secret_basic). A `DPoP` proof header (RFC 9449)
 * binds the token to the proof's key. When policy needs a human, the answer is 202
 * `{auth_req_id, approval_uri, expires_in, interval}`: poll `/oauth/token` with the CIBA grant.
 */
export function v1TokensRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const dpopProof = c.req.header('dpop')
    // Every answer to a DPoP request carries the current nonce (RFC 9449 §8), errors included.
    if (dpopProof !== undefined) c.header('DPoP-Nonce', deps.dpop.nonce())
    // Ensure the caller is a registered client before the body is even parsed.
    const { clientId } = await deps.clients.authenticate({
      authorization: c.req.header('authorization'),
      params: {},
      source: clientAddress(c, deps.config.limits),
    })
    const type = mediaType(c)
    const manifest = parseManifest(await readBody(c, deps.config.limits.bodyBytes), {
      ...(type ? { contentType: type } : {}),
      maxGrants: deps.config.limits.grants,
    })
    const cnfJkt = await deps.dpop.verify({ header: dpopProof, method: 'POST', path: '/v1/tokens' })
    const response = await issueGrant(deps.issue, { clientId, manifest, ...(cnfJkt ? { cnfJkt } : {}) })
    // A human must approve first: 202 with the CIBA handle to poll and the approval page.
    if ('auth_req_id' in response) return c.json(response, 202, { 'Cache-Control': 'no-store' })
    return tokenResponse(c, response)
  }
}
