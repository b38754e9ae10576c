import type { MemoryBackend } from './memory-backend.js'
import type { SettingsStore } from './settings-store.js'

/** Settings in process memory. */
export function createMemorySettingsStore(backend: MemoryBackend): SettingsStore {
  const settings = new Map<string, string>()
  return {
    async initSetting(name, value) {
      backend.ensureOpen()
      // Ensure a setting is written once: the first writer wins, later ones read its value.
      const current = settings.get(name)
      if (current !== undefined) return current
      settings.set(name, value)
      return value
    },
  }
}
