import type { Clock } from '../clock.js'

/** What one `take` decided. */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number }

export interface RateLimiterOptions {
  /** Requests a key may make at once, after being idle (the bucket's size). */
  burst: number
  /** Requests per second a key may sustain (the bucket's refill rate). */
  perSecond: number
  /** Most keys tracked; past it the least recently used key is forgotten (starts full again). */
  maxKeys: number
  clock: Clock
}

/** One limiter: a token bucket per key. */
export interface RateLimiter {
  /** Takes one request from `key`'s bucket, or says how long until one is available. */
  take(key: string): RateDecision
  /**
   * Gives back the request `take` just allowed (never beyond the burst), for a budget that only
   * failures should spend: take before the costly work, refund when it succeeded.
   */
  refund(key: string): void
  /** Keys currently tracked (for tests and metrics). */
  readonly size: number
}

interface Bucket {
  tokens: number
  at: number
}

/**
 * Creates an in-process token-bucket rate limiter. Each key starts with `burst` requests and
 * earns `perSecond` more each second, up to `burst`. Memory is bounded by `maxKeys`: buckets are
 * kept in least-recently-used order and the oldest is dropped when a new key arrives. Limits are
 * per process: N broker replicas allow N times the rate in total.
 *
 * @throws RangeError for a burst, rate or key count that is not a positive finite number.
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { burst, perSecond, maxKeys, clock } = options
  const checked = [['burst', burst], ['perSecond', perSecond], ['maxKeys', maxKeys]] as const
  for (const [name, value] of checked) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new RangeError(`${name}: expected a positive number, got ${value}`)
    }
  }
  const buckets = new Map<string, Bucket>()
  return {
    take(key) {
      const now = clock()
      let bucket = buckets.get(key)
      if (bucket) {
        buckets.delete(key)
        // A clock that went backwards earns nothing; it never takes tokens away either.
        const elapsed = Math.max(0, now - bucket.at) / 1000
        bucket.tokens = Math.min(burst, bucket.tokens + elapsed * perSecond)
        bucket.at = now
      } else {
        if (buckets.size >= maxKeys) {
          const oldest = buckets.keys().next().value
          if (oldest !== undefined) buckets.delete(oldest)
        }
        bucket = { tokens: burst, at: now }
      }
      buckets.set(key, bucket)
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1
        return { allowed: true }
      }
      const retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond))
      return { allowed: false, retryAfterSeconds }
    },
    refund(key) {
      const bucket = buckets.get(key)
      if (bucket) bucket.tokens = Math.min(burst, bucket.tokens + 1)
    },
    get size() {
      return buckets.size
    },
  }
}
