import { createIntrospectionLiveness } from './introspection-liveness.js'
import type { KeyResolver } from './key-resolver.js'
import type { LivenessCheck, LivenessOptions } from './liveness.js'
import { createRedisLiveness } from './redis-liveness.js'

/**
 * The liveness check a verifier's options ask for: `redis` (the grant store, subscribed to the
 * revocation channel, whose key-set announcements withdraw kids from `keys` and whose
 * resubscription refetches the key set), `introspection` (the broker's endpoint), or `none`
 * (signature and expiry only).
 *
 * @example
 * ```ts
 * const liveness = createLiveness({ mode: 'none' }, Date.now, fetch, keys)
 * await liveness.check(claims, token, claimsSha256)
 * ```
 */
export function createLiveness(
  options: LivenessOptions,
  clock: () => number,
  fetch: typeof globalThis.fetch,
  keys: Pick<KeyResolver, 'keepOnly' | 'refreshSoon'>,
  onCacheLookup?: (hit: boolean) => void,
): LivenessCheck {
  switch (options.mode) {
    case 'redis':
      return createRedisLiveness(options, clock, {
        onKeySet: (kids) => keys.keepOnly(kids),
        onResubscribed: () => keys.refreshSoon(),
        ...(onCacheLookup ? { onCacheLookup } : {}),
      })
    case 'introspection':
      return createIntrospectionLiveness(options, clock, fetch, onCacheLookup)
    case 'none':
      return {
        check: async () => undefined,
        status: () => ({ mode: 'none' }),
        close: async () => undefined,
      }
  }
}
