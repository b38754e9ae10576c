import type { RedisBackend } from '../store/redis-backend.js'
import type { KeySetStore } from './key-set-store.js'
import { redisVersionedHash } from '../store/redis-versioned-hash.js'

/** The key set in one Redis hash (version, data), written by compare-and-set. */
export function createRedisKeySetStore(backend: RedisBackend): KeySetStore {
  const { keys } = backend
  const versioned = redisVersionedHash(backend)
  return {
    getKeySet: () => versioned.read(keys.keySet()),

    // The announcement goes out in the same script as the write, so a written key set is always
    // announced, and no rotation is lost (compare-and-set).
    putKeySet: (data, expectedVersion, announcement) =>
      versioned.put(
        keys.keySet(),
        data,
        expectedVersion,
        announcement ? { channel: keys.revocationChannel(), message: JSON.stringify(announcement) } : undefined,
      ),
  }
}
