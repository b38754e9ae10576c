import type { RedisBackend } from './redis-backend.js'
import { assertExpectedSettingVersion, type SettingsStore } from './settings-store.js'

/**
 * KEYS: the setting's hash. ARGV: expected version ('' for none), data.
 * Returns the new version, or 0 when the current version is not the expected one.
 */
const PUT_VERSIONED_SETTING_LUA = `
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
return version
`

interface SettingScripts {
  writPutVersionedSetting(...args: Array<string | number>): Promise<number>
}

/**
 * Settings in Redis without expiry: a write-once setting is one string key, a replaceable one a
 * hash { version, data } written by compare-and-set.
 */
export function createRedisSettingsStore(backend: RedisBackend): SettingsStore {
  const { redis, keys, run, replicated } = backend
  redis.defineCommand('writPutVersionedSetting', { numberOfKeys: 1, lua: PUT_VERSIONED_SETTING_LUA })
  const scripts = redis as unknown as SettingScripts
  return {
    async initSetting(name, value) {
      const key = keys.setting(name)
      // Ensure a setting is written once: the first writer wins (SET NX), later ones read its value.
      return run(async () => {
        if ((await redis.set(key, value, 'NX')) === 'OK') return value
        const current = await redis.get(key)
        if (current === null) throw new Error(`setting ${name} vanished after it was written`)
        return current
      })
    },

    async settingVersion(name) {
      const version = await run(() => redis.hget(keys.versionedSetting(name), 'version'))
      return version === null ? null : Number(version)
    },

    async getVersionedSetting(name) {
      const [version, data] = await run(() => redis.hmget(keys.versionedSetting(name), 'version', 'data'))
      if (version == null || data == null) return null
      return { version: Number(version), data }
    },

    async putVersionedSetting(name, data, expectedVersion) {
      assertExpectedSettingVersion(expectedVersion)
      // Ensure the writer saw the current version (compare-and-set), so no change is lost.
      const version = await run(() =>
        scripts.writPutVersionedSetting(
          keys.versionedSetting(name),
          expectedVersion === null ? '' : expectedVersion,
          data,
        ),
      )
      if (version > 0) await run(replicated)
      return version > 0
    },
  }
}
