import type { Context } from 'hono'
import { grantRevokedEvent } from '../../grants/grant-revoked-event.js'
import { epochSeconds } from '../../clock.js'
import { invalidRequest } from '../../errors.js'
import { inspectToken } from '../../grants/inspect-token.js'
import { revokeGrantTree } from '../../grants/revoke-descendants.js'
import { clientAddress } from '../client-address.js'
import type { AppDeps } from '../deps.js'
import { readForm } from '../form.js'

/**
 * `POST /oauth/revoke` (RFC 7009): a client revokes one of its own tokens. An invalid, expired or
 * already revoked token answers 200 as well (§2.2), so revocation is idempotent; so does another
 * client's token, which is left alone, so the answer never tells whether it is live.
 */
export function revokeRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const params = await readForm(c, deps.config.limits.bodyBytes)
    // Ensure the caller is a registered client (RFC 7009 §2.1).
    const { clientId } = await deps.clients.authenticate({
      authorization: c.req.header('authorization'),
      params,
      source: clientAddress(c, deps.config.limits),
    })
    if (!params.token) throw invalidRequest('token: required')
    const result = await inspectToken(deps.issue, params.token)
    if (result.active) {
      // Ensure a client can only revoke tokens issued to it (RFC 7009 §2.1), and learns nothing
      // of another client's token: it is answered 200 as an invalid token is (§2.2), unrevoked.
      if (result.claims.client_id !== clientId) {
        deps.logger.warn('revocation of another client\'s token refused', {
          clientId,
          tokenClient: result.claims.client_id,
        })
        return c.body(null, 200, { 'Cache-Control': 'no-store' })
      }
      // Grants delegated from it (token exchange) go with it.
      const { grant: revoked, descendants } = await revokeGrantTree(deps.store, { clientId, grantId: result.claims.jti }, {
        by: `client:${clientId}`,
        reason: 'revoked by its client (RFC 7009)',
        at: epochSeconds(deps.clock),
      })
      deps.logger.info('grant revoked', { grantId: result.claims.jti, clientId, by: 'client', revoked: revoked !== null })
      if (revoked) {
        // Audited once the revocation took effect; an audit failure never undoes or blocks it.
        const why = 'revoked by its client (RFC 7009)'
        const known = { client: clientId, task: revoked.task.id }
        const count = 1 + descendants
        await deps.audit.note(grantRevokedEvent(`client:${clientId}`, { grantId: revoked.id }, why, count, known))
      }
    }
    return c.body(null, 200, { 'Cache-Control': 'no-store' })
  }
}
