import type { RedisBackend } from '../store/redis-backend.js'
import { assertExpectedVersion, type KeySetStore } from './key-set-store.js'

/**
 * KEYS: key set hash. ARGV: expected version ('' for none), data, revocation channel, announcement
 * ('' for none; published only when the key set was written).
 * Returns the new version, or 0 when the current version is not the expected one.
 */
const PUT_KEY_SET_LUA = `
local current = redis.call('HGET', KEYS[1], 'version')
if current then
  if current ~= ARGV[1] then
    return 0
  end
elseif ARGV[1] ~= '' then
  return 0
end
local version = (current and tonumber(current) or 0) + 1
redis.call('HSET', KEYS[1], 'version', string.format('%.0f', version), 'data', ARGV[2])
if ARGV[4] ~= '' then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return version
`

interface KeySetScripts {
  writPutKeySet(...args: Array<string | number>): Promise<number>
}

/** The key set in one Redis hash (version, data), written by compare-and-set. */
export function createRedisKeySetStore(backend: RedisBackend): KeySetStore {
  const { redis, keys, run, replicated } = backend
  redis.defineCommand('writPutKeySet', { numberOfKeys: 1, lua: PUT_KEY_SET_LUA })
  const scripts = redis as unknown as KeySetScripts
  return {
    async getKeySet() {
      const [version, data] = await run(() => redis.hmget(keys.keySet(), 'version', 'data'))
      if (version == null || data == null) return null
      return { version: Number(version), data }
    },

    async putKeySet(data, expectedVersion, announcement) {
      assertExpectedVersion(expectedVersion)
      // Ensure the writer saw the current version (compare-and-set), so no rotation is lost; the
      // announcement goes out in the same script, so a written key set is always announced.
      const version = await run(() =>
        scripts.writPutKeySet(
          keys.keySet(),
          expectedVersion === null ? '' : expectedVersion,
          data,
          keys.revocationChannel(),
          announcement ? JSON.stringify(announcement) : '',
        ),
      )
      if (version > 0) await run(replicated)
      return version > 0
    },
  }
}
