import type { Clock } from '../../clock.js'
import type { RedisGrantStore } from '../../grants/redis-store.js'
import type { GrantStore } from '../../grants/store.js'
import { createMemoryAuthorizationStore } from './memory-store.js'
import { createRedisAuthorizationStore } from './redis-store.js'
import type { AuthorizationStore } from './store.js'

const isRedisStore = (store: GrantStore): store is RedisGrantStore => store.kind === 'redis' && 'redis' in store

/**
 * The authorization store beside a grant store: Redis (sharing its client and key prefix) when
 * the grant store is Redis, so every replica sees every request and code; memory otherwise.
 */
export function createAuthorizationStore(grantStore: GrantStore, clock: Clock): AuthorizationStore {
  return isRedisStore(grantStore)
    ? createRedisAuthorizationStore({
        redis: grantStore.redis,
        keyPrefix: grantStore.keys.prefix,
        clock,
        firstConnection: () => grantStore.firstConnection(),
      })
    : createMemoryAuthorizationStore({ clock })
}
