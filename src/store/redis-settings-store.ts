import type { RedisBackend } from './redis-backend.js'
import type { SettingsStore } from './settings-store.js'

/** Settings in Redis, one key each, without expiry. */
export function createRedisSettingsStore(backend: RedisBackend): SettingsStore {
  const { redis, keys, run } = backend
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
  }
}
