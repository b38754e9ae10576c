import { WritError } from '../errors.js'
import type { RateDecision } from './create-rate-limiter.js'

/**
 * The error for a refused {@link RateDecision}: 429 `slow_down` with `Retry-After`. `slow_down`
 * is the OAuth code for "you are asking too often" (CIBA §11, RFC 8628 §3.5); writ's agent client
 * already backs off on it.
 */
export function rateLimited(
  decision: Extract<RateDecision, { allowed: false }>,
  what: string,
): WritError {
  const seconds = decision.retryAfterSeconds
  return new WritError('slow_down', 429, `too many requests ${what}; retry in ${seconds} s`, {
    retryAfterSeconds: seconds,
  })
}
