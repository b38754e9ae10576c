import type { Cluster, Redis } from 'ioredis'
import type { Clock } from '../clock.js'
import { storeUnavailable, WritError } from '../errors.js'

/** What a store kept beside the grants, on the grant store's own Redis client, is given. */
export interface SharedRedisClientOptions {
  /** The grant store's client, owned by the caller: its connection, fail-fast settings and prefix. */
  redis: Redis | Cluster
  /** The grant store's key prefix (default `writ:`). */
  keyPrefix?: string
  /** Decides every expiry and computes every TTL. */
  clock: Clock
  /**
   * Waits for the shared client's first connection (`RedisBackend.firstConnection`): a command
   * sent before it would fail, since the client queues nothing.
   */
  firstConnection?: () => Promise<void>
}

/**
 * Runs a store's Redis I/O on the shared client: waits for its first connection, and turns
 * anything that goes wrong there into the store being unavailable (503, retry).
 */
export function sharedClientRunner(options: Pick<SharedRedisClientOptions, 'redis' | 'firstConnection'>) {
  const { redis, firstConnection } = options
  return async <T>(op: () => Promise<T>): Promise<T> => {
    try {
      if (redis.status !== 'ready') await firstConnection?.()
      return await op()
    } catch (err) {
      throw err instanceof WritError ? err : storeUnavailable(err)
    }
  }
}
