import type { Clock } from '../../clock.js'
import type { StoreBackend } from '../../store/store-backend.js'
import { createMemoryInboxStore } from './memory-store.js'
import { createRedisInboxStore } from './redis-store.js'
import type { InboxStore } from './store.js'

/**
 * The inbox store on the broker's store backend: Redis (sharing its client and key prefix) when
 * the backend is Redis, so a session started on one replica is seen by every other; memory
 * otherwise.
 */
export function createInboxStore(backend: StoreBackend, clock: Clock): InboxStore {
  return backend.kind === 'redis'
    ? createRedisInboxStore({
        redis: backend.redis,
        keyPrefix: backend.keys.prefix,
        clock,
        firstConnection: backend.firstConnection,
      })
    : createMemoryInboxStore({ clock })
}
