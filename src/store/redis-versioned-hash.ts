import { assertExpectedVersion } from './expected-version.js'
import type { RedisBackend } from './redis-backend.js'

/**
 * KEYS: the hash. ARGV: expected version ('' for none), data, channel, announcement ('' for none;
 * published only when the hash was written).
 * Returns the new version, or 0 when the current version is not the expected one.
 */
const PUT_VERSIONED_HASH_LUA = `
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

interface VersionedHashScripts {
  writPutVersionedHash(...args: Array<string | number>): Promise<number>
}

/** A stored value with the version its compare-and-set writes gave it. */
export interface Versioned {
  version: number
  data: string
}

/** A replaceable value in one Redis hash `{ version, data }`, written by compare-and-set. */
export interface RedisVersionedHash {
  read(key: string): Promise<Versioned | null>
  readVersion(key: string): Promise<number | null>
  /**
   * Writes `data` when the stored version is `expectedVersion` (null: nothing stored yet), and
   * publishes `announcement` on `channel` in the same script; false when another writer won.
   */
  put(key: string, data: string, expectedVersion: number | null, announce?: { channel: string; message: string }): Promise<boolean>
}

/** Versioned hashes on the backend's client (the key set, replaceable settings). */
export function redisVersionedHash(backend: RedisBackend): RedisVersionedHash {
  const { redis, run, replicated } = backend
  redis.defineCommand('writPutVersionedHash', { numberOfKeys: 1, lua: PUT_VERSIONED_HASH_LUA })
  const scripts = redis as unknown as VersionedHashScripts
  return {
    async read(key) {
      const [version, data] = await run(() => redis.hmget(key, 'version', 'data'))
      if (version == null || data == null) return null
      return { version: Number(version), data }
    },

    async readVersion(key) {
      const version = await run(() => redis.hget(key, 'version'))
      return version === null ? null : Number(version)
    },

    async put(key, data, expectedVersion, announce) {
      assertExpectedVersion(expectedVersion)
      // Ensure the writer saw the current version (compare-and-set), so no change is lost.
      const version = await run(() =>
        scripts.writPutVersionedHash(key, expectedVersion === null ? '' : expectedVersion, data, announce?.channel ?? '', announce?.message ?? ''),
      )
      if (version > 0) await run(replicated)
      return version > 0
    },
  }
}
