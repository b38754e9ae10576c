import type { RedisBackend } from './redis-backend.js'
import type { SettingsStore } from './settings-store.js'
import { redisVersionedHash } from './redis-versioned-hash.js'

/**
 * Settings in Redis without expiry: a write-once setting is one string key, a replaceable one a
 * hash { version, data } written by compare-and-set.
 */
export function createRedisSettingsStore(backend: RedisBackend): SettingsStore {
  const { redis, keys, run } = backend
  const versioned = redisVersionedHash(backend)
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

    settingVersion: (name) => versioned.readVersion(keys.versionedSetting(name)),

    getVersionedSetting: (name) => versioned.read(keys.versionedSetting(name)),

    putVersionedSetting: (name, data, expectedVersion) =>
      versioned.put(keys.versionedSetting(name), data, expectedVersion),
  }
}
