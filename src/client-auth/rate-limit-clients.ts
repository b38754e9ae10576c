import type { ClientAuthenticator } from './authenticate-client.js'
import type { RateLimiter } from '../limits/create-rate-limiter.js'
import { rateLimited } from '../limits/rate-limited.js'

/**
 * Wraps a client authenticator so each authenticated client draws one request from its own token
 * bucket, on every route clients authenticate to (token, CIBA, introspection, revocation, AWS).
 * Only authenticated requests count: nobody can spend another client's budget by claiming its id.
 *
 * @throws WritError `slow_down` (429, `Retry-After`) once the client's bucket is empty.
 */
export function rateLimitClients(
  clients: ClientAuthenticator,
  limiter: RateLimiter,
): ClientAuthenticator {
  return {
    async authenticate(req) {
      const client = await clients.authenticate(req)
      // Ensure one client cannot monopolise the broker, however valid its requests are.
      const decision = limiter.take(client.clientId)
      if (!decision.allowed) throw rateLimited(decision, `from client ${client.clientId}`)
      return client
    },
  }
}
