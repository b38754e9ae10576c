import type { Context } from 'hono'
import { grantRevokedEvent } from '../../grants/grant-revoked-event.js'
import { epochSeconds } from '../../clock.js'
import { accessDenied, invalidRequest } from '../../errors.js'
import { inspectToken } from '../../grants/inspect-token.js'
import { clientAddress } from '../client-address.js'
import type { AppDeps } from '../deps.js'
import { readForm } from '../form.js'

/**
 * `POST /oauth/revoke` (RFC 7009): a client revokes one of its own tokens. An invalid, expired or
 * already revoked token answers 200 as well (§2.2), so revocation is idempotent.
 */
export function revokeRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const params = await readForm(c, deps.config.limits.bodyBytes)
    // Ensure the caller is a registered client (RFC 7009 §2.1).
    const { clientId } = await deps.clients.authenticate({
      authorization: c.req.header('authorization'),
      params,
      source: clientAddress(c, deps.config.limits.clientIpHeader),
    })
    if (!params.token) throw invalidRequest('token: required')
    const result = await inspectToken(deps.issue, params.token)
    if (result.active) {
      // Ensure a client can only revoke tokens issued to it (RFC 7009 §2.1).
      if (result.claims.client_id !== clientId) {
        throw accessDenied('this token was not issued to the authenticated client')
      }
      const revoked = await deps.store.revokeGrant(clientId, result.claims.jti, {
        by: `client:${clientId}`,
        reason: 'revoked by its client (RFC 7009)',
        at: epochSeconds(deps.clock),
      })
      deps.logger.info('grant revoked', { grantId: result.claims.jti, clientId, by: 'client', revoked: revoked !== null })
      if (revoked) {
        // Audited once the revocation took effect; an audit failure never undoes or blocks it.
        const why = 'revoked by its client (RFC 7009)'
        const known = { client: clientId, task: revoked.task.id }
        await deps.audit.note(grantRevokedEvent(`client:${clientId}`, { grantId: revoked.id }, why, 1, known))
      }
    }
    return c.body(null, 200, { 'Cache-Control': 'no-store' })
  }
}
