import { assertExpectedVersion } from './expected-version.js'
import type { MemoryBackend } from './memory-backend.js'
import type { SettingsStore, VersionedSetting } from './settings-store.js'

/** Settings in process memory. */
export function createMemorySettingsStore(backend: MemoryBackend): SettingsStore {
  const settings = new Map<string, string>()
  const versioned = new Map<string, VersionedSetting>()
  return {
    async initSetting(name, value) {
      backend.ensureOpen()
      // Ensure a setting is written once: the first writer wins, later ones read its value.
      const current = settings.get(name)
      if (current !== undefined) return current
      settings.set(name, value)
      return value
    },

    async settingVersion(name) {
      backend.ensureOpen()
      return versioned.get(name)?.version ?? null
    },

    async getVersionedSetting(name) {
      backend.ensureOpen()
      const setting = versioned.get(name)
      return setting ? { ...setting } : null
    },

    async putVersionedSetting(name, data, expectedVersion) {
      backend.ensureOpen()
      assertExpectedVersion(expectedVersion)
      // Ensure the writer saw the current version (compare-and-set), so no change is lost.
      const current = versioned.get(name)?.version ?? null
      if (current !== expectedVersion) return false
      versioned.set(name, { version: (current ?? 0) + 1, data })
      return true
    },
  }
}
