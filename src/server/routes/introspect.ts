import type { Context } from 'hono'
import { invalidRequest } from '../../errors.js'
import { inspectToken } from '../../grants/inspect-token.js'
import { clientAddress } from '../client-address.js'
import type { AppDeps } from '../deps.js'
import { readForm } from '../form.js'

/**
 * `POST /oauth/introspect` (RFC 7662). Callers authenticate as registered clients. A client learns
 * only about its own tokens, unless the policy registers it as a resource server
 * (`introspect: any`); anything else, and anything that is not a live grant of this issuer,
 * answers `{"active": false}` and nothing more (§2.2, §4).
 */
export function introspectRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const params = await readForm(c, deps.config.limits.bodyBytes)
    // Ensure only registered clients can probe tokens (RFC 7662 §2.1, §4).
    const { clientId } = await deps.clients.authenticate({
      authorization: c.req.header('authorization'),
      params,
      source: clientAddress(c, deps.config.limits),
    })
    if (!params.token) throw invalidRequest('token: required')
    const result = await inspectToken(deps.issue, params.token)
    const headers = { 'Cache-Control': 'no-store' }
    if (!result.active && result.forged) {
      // A valid signature on claims we never issued: one of the signing keys is in other hands.
      deps.logger.warn('token with claims not issued for its grant (is a signing key stolen?)', {
        grantId: result.claims?.jti,
        clientId: result.claims?.client_id,
      })
    }
    if (!result.active) return c.json({ active: false }, 200, headers)
    // Ensure a client learns nothing about another client's token, not even that it is live,
    // unless the policy registers it as a resource server (RFC 7662 §4).
    const mayIntrospectAny = deps.policy.current().clients.get(clientId)?.introspect === 'any'
    if (result.claims.client_id !== clientId && !mayIntrospectAny) {
      return c.json({ active: false }, 200, headers)
    }
    const { claims, state } = result
    return c.json(
      {
        active: true,
        iss: claims.iss,
        sub: claims.sub,
        aud: claims.aud,
        client_id: claims.client_id,
        scope: claims.scope,
        token_type: state.grant.cnfJkt ? 'DPoP' : 'Bearer',
        exp: claims.exp,
        iat: claims.iat,
        jti: claims.jti,
        authorization_details: state.grant.authorizationDetails,
        task: state.grant.task,
        ...(state.grant.cnfJkt ? { cnf: { jkt: state.grant.cnfJkt } } : {}),
      },
      200,
      headers,
    )
  }
}
