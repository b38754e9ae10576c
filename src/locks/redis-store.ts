import type { Clock } from '../clock.js'
import { WritError } from '../errors.js'
import type { StoreKeys } from '../wire/keys.js'
import type { RedisClient } from '../store/redis-connection.js'
import type { LockStore } from './store.js'
import { compareLocks, isLockActive, type Lock, type LockTarget } from './types.js'

export interface RedisLockStoreOptions {
  /** The grant store's client: locks live beside the grants whose creation reads them. */
  redis: RedisClient
  keys: Pick<StoreKeys, 'lockMarker' | 'locks'>
  clock: Clock
  /** Runs Redis I/O, turning any failure into a WritError `temporarily_unavailable` (503). */
  run: <T>(op: () => Promise<T>) => Promise<T>
}

/**
 * KEYS: a lock marker. ARGV: score (expiry ms, or '+inf'), lock id, now (ms).
 * Adds the lock's id, prunes expired ids, and keeps the marker as long as its longest lock
 * (for ever while one has no expiry).
 */
const MARK_LUA = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] == 'inf' then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], math.max(1, math.floor(tonumber(top[2]) - tonumber(ARGV[3]))))
end
return 1
`

interface LockScripts {
  writLockMark(...args: Array<string | number>): Promise<number>
}


/**
 * The Redis lock store (the Redis grant store's `locks`). Each lock is a record in one hash (for
 * listing and unlocking) and its id in its target's marker, a zset scored by expiry: the marker is
 * what refuses requests, and the grant-create script reads it in the same atomic step as it
 * records a grant. A lock is written record first, marker second, and removed marker first, so a
 * marker never names a lock that cannot be listed and unlocked.
 */
export function createRedisLockStore(options: RedisLockStoreOptions): LockStore {
  const { redis, keys, clock, run } = options
  redis.defineCommand('writLockMark', { numberOfKeys: 1, lua: MARK_LUA })
  const scripts = redis as unknown as LockScripts

  const read = async (id: string): Promise<Lock | null> => {
    const json = await run(() => redis.hget(keys.locks(), id))
    if (json === null) return null
    const lock = JSON.parse(json) as Lock
    return isLockActive(lock, clock()) ? lock : null
  }

  return {
    async putLock(lock) {
      await run(async () => {
        // Ensure a lock id is never reused: a second lock must not replace the first.
        if ((await redis.hsetnx(keys.locks(), lock.id, JSON.stringify(lock))) !== 1) {
          throw new WritError('server_error', 500, 'lock id already in use')
        }
        const score = lock.expiresAt === undefined ? '+inf' : lock.expiresAt * 1000
        await scripts.writLockMark(keys.lockMarker(lock.target), score, lock.id, clock())
      })
    },

    getLock: read,

    async removeLock(id) {
      const lock = await read(id)
      if (!lock) return null
      const removed = await run(async () => {
        // The marker first: from here the lock refuses nothing, whatever happens next.
        await redis.zrem(keys.lockMarker(lock.target), id)
        return redis.hdel(keys.locks(), id)
      })
      return removed === 1 ? lock : null
    },

    async listLocks() {
      const all = await run(() => redis.hgetall(keys.locks()))
      const now = clock()
      const active: Lock[] = []
      const expired: string[] = []
      for (const [id, json] of Object.entries(all)) {
        const lock = JSON.parse(json) as Lock
        if (isLockActive(lock, now)) active.push(lock)
        else expired.push(id)
      }
      // Expired records have done their job (their markers expire by themselves).
      if (expired.length > 0) await run(() => redis.hdel(keys.locks(), ...expired))
      return active.sort(compareLocks)
    },

    async findLock(targets: readonly LockTarget[]) {
      const now = clock()
      const hits = await run(() =>
        Promise.all(
          targets.map((t) => redis.zrangebyscore(keys.lockMarker(t), `(${now}`, '+inf', 'LIMIT', 0, 1)),
        ),
      )
      const at = hits.findIndex((ids) => ids.length > 0)
      if (at < 0) return null
      const id = hits[at]![0]!
      // A marker whose record is gone (removed this instant) still refuses: fail closed.
      const reason = 'the lock is being removed'
      return (await read(id)) ?? { id, target: targets[at]!, reason, by: 'admin', createdAt: 0 }
    },
  }
}
