import type { MiddlewareHandler } from 'hono'
import { rateLimited } from '../limits/rate-limited.js'
import type { RateLimiter } from '../limits/create-rate-limiter.js'
import { clientAddress, type ClientAddressConfig } from './client-address.js'

export interface RateLimitByIpOptions {
  limiter: RateLimiter
  /**
   * Where a request came from: `limits.clientIpHeader`, believed only from
   * `limits.trustedProxies`; otherwise the TCP peer (see `clientAddress`).
   */
  addresses: ClientAddressConfig
}

/**
 * Middleware: a token bucket per client address (an IPv4 address or an IPv6 /64, see
 * `addressKey`), for the pages people open (approval and enrolment) and their ceremonies, where
 * each call stores a challenge. Without a known address (an in-process request that never crossed
 * a socket) the request is not counted.
 *
 * Answers 429 `slow_down` with `Retry-After` once the address's bucket is empty.
 */
export function rateLimitByIp(options: RateLimitByIpOptions): MiddlewareHandler {
  return async (c, next) => {
    const address = clientAddress(c, options.addresses)
    if (address !== undefined) {
      // Ensure one address cannot flood the pages and fill the store with challenges.
      const decision = options.limiter.take(address)
      if (!decision.allowed) throw rateLimited(decision, 'from this address')
    }
    await next()
  }
}
