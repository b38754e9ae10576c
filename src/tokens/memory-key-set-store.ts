import { assertExpectedVersion } from '../store/expected-version.js'
import type { MemoryBackend } from '../store/memory-backend.js'
import type { KeySetStore, StoredKeySet } from './key-set-store.js'

/** The key set in process memory; its announcement goes to this process's feed. */
export function createMemoryKeySetStore(backend: MemoryBackend): KeySetStore {
  let keySet: StoredKeySet | null = null
  return {
    async getKeySet() {
      backend.ensureOpen()
      return keySet && { ...keySet }
    },

    async putKeySet(data, expectedVersion, announcement) {
      backend.ensureOpen()
      assertExpectedVersion(expectedVersion)
      // Ensure the writer saw the current version (compare-and-set), so no rotation is lost.
      const current = keySet?.version ?? null
      if (current !== expectedVersion) return false
      keySet = { version: (current ?? 0) + 1, data }
      if (announcement) backend.publish(announcement)
      return true
    },
  }
}
