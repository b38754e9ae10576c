import type { Clock } from '../../clock.js'
import type { StoreBackend } from '../../store/store-backend.js'
import { createMemoryAuthorizationStore } from './memory-store.js'
import { createRedisAuthorizationStore } from './redis-store.js'
import type { AuthorizationStore } from './store.js'

/**
 * The authorization store on the broker's store backend: Redis (sharing its client and key
 * prefix) when the backend is Redis, so every replica sees every request and code; memory
 * otherwise.
 */
export function createAuthorizationStore(backend: StoreBackend, clock: Clock): AuthorizationStore {
  return backend.kind === 'redis'
    ? createRedisAuthorizationStore({
        redis: backend.redis,
        keyPrefix: backend.keys.prefix,
        clock,
        firstConnection: backend.firstConnection,
      })
    : createMemoryAuthorizationStore({ clock })
}
