import type { MiddlewareHandler } from 'hono'
import { rateLimited } from '../limits/rate-limited.js'
import type { RateLimiter } from '../limits/create-rate-limiter.js'
import { clientAddress } from './client-address.js'

export interface RateLimitByIpOptions {
  limiter: RateLimiter
  /**
   * A header set by a reverse proxy in front of the broker that holds the caller's address
   * (`x-real-ip`). Only for a proxy that always overwrites it: a client could set it otherwise.
   * A request without it is counted by its TCP peer.
   */
  header?: string | undefined
}

/**
 * Middleware: a token bucket per client address, for the pages people open (approval and
 * enrolment) and their ceremonies, where each call stores a challenge. Without a known address
 * (an in-process request that never crossed a socket) the request is not counted.
 *
 * Answers 429 `slow_down` with `Retry-After` once the address's bucket is empty.
 */
export function rateLimitByIp(options: RateLimitByIpOptions): MiddlewareHandler {
  return async (c, next) => {
    const address = clientAddress(c, options.header)
    if (address !== undefined) {
      // Ensure one address cannot flood the pages and fill the store with challenges.
      const decision = options.limiter.take(address)
      if (!decision.allowed) throw rateLimited(decision, 'from this address')
    }
    await next()
  }
}
