import type { RedisBackend } from './redis-backend.js'
import { assertTtlSeconds, type OnceStore } from './once-store.js'

/** Single-use markers in Redis: one `SET NX EX` per marker, so exactly one replica takes it. */
export function createRedisOnceStore(backend: RedisBackend): OnceStore {
  const { redis, keys, run } = backend
  return {
    async consumeOnce(scope, id, ttlSeconds) {
      assertTtlSeconds(ttlSeconds)
      // Ensure a marker is taken once across replicas: SET NX succeeds for exactly one caller.
      const reply = await run(() => redis.set(keys.once(scope, id), '1', 'EX', ttlSeconds, 'NX'))
      return reply === 'OK'
    },
  }
}
