import type { MemoryBackend } from './memory-backend.js'
import { assertTtlSeconds, type OnceStore } from './once-store.js'

/**
 * Single-use markers in process memory. Expired markers are dropped by a sweep that runs whenever
 * the number of markers doubles since the last one (O(1) amortized per write).
 */
export function createMemoryOnceStore(
  backend: MemoryBackend,
  options: { sweepThreshold?: number } = {},
): OnceStore {
  const { clock } = backend
  const minSweep = Math.max(1, options.sweepThreshold ?? 1024)
  /** Marker key → expiry (ms). */
  const markers = new Map<string, number>()
  let nextSweepAt = minSweep

  const sweep = (now: number): void => {
    for (const [key, expiresAtMs] of markers) if (expiresAtMs <= now) markers.delete(key)
    nextSweepAt = Math.max(minSweep, markers.size * 2)
  }

  return {
    async consumeOnce(scope, id, ttlSeconds) {
      backend.ensureOpen()
      assertTtlSeconds(ttlSeconds)
      const now = clock()
      const key = JSON.stringify([scope, id])
      const expiresAtMs = markers.get(key)
      // Ensure a marker is taken once: a live marker means someone consumed it already.
      if (expiresAtMs !== undefined && expiresAtMs > now) return false
      markers.set(key, now + ttlSeconds * 1000)
      if (markers.size >= nextSweepAt) sweep(now)
      return true
    },
  }
}
