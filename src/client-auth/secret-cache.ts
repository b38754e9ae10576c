import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto'
import type { Clock } from '../clock.js'

export interface SecretCacheOptions {
  clock: Clock
  /** How long a verified secret is trusted without running argon2 again. */
  ttlSeconds: number
  /** Oldest entries are evicted beyond this. Default 10,000. */
  maxEntries?: number
  /** Key of the HMAC that names entries. Random per process when absent. */
  hmacKey?: Uint8Array
}

interface Entry {
  clientId: string
  /** The hash the secret was verified against: a changed hash makes the entry worthless. */
  secretHash: string
  expiresAtMs: number
}

/** Client secrets that passed argon2 verification recently. Never holds a secret itself. */
export interface SecretCache {
  /** HMAC-SHA256(hmacKey, clientId '\0' secret), base64url: the name of an entry. */
  keyFor(clientId: string, secret: string): string
  /** Whether `key` was verified for this client against this very hash, and not too long ago. */
  has(key: string, clientId: string, secretHash: string): boolean
  /** Records a secret argon2 just verified. Only ever call this after a successful verify. */
  remember(key: string, clientId: string, secretHash: string): void
  readonly size: number
}

/**
 * Creates a bounded cache of verified client secrets, keyed by an HMAC of the secret so the
 * cache itself holds nothing that would let anyone authenticate.
 */
export function createSecretCache(options: SecretCacheOptions): SecretCache {
  const { clock } = options
  const ttlMs = options.ttlSeconds * 1000
  const maxEntries = Math.max(1, options.maxEntries ?? 10_000)
  const hmacKey: KeyObject = createSecretKey(options.hmacKey ?? randomBytes(32))
  /** Insertion order is age order: the first key is the oldest. */
  const entries = new Map<string, Entry>()

  return {
    keyFor: (clientId, secret) =>
      createHmac('sha256', hmacKey)
        .update(clientId)
        .update('\0')
        .update(secret)
        .digest('base64url'),

    has: (key, clientId, secretHash) => {
      const entry = entries.get(key)
      if (!entry) return false
      // Ensure the entry is fresh, and was verified for this client against its current hash.
      const fresh = entry.expiresAtMs > clock()
      if (!fresh || entry.clientId !== clientId || entry.secretHash !== secretHash) {
        entries.delete(key)
        return false
      }
      return true
    },

    remember: (key, clientId, secretHash) => {
      if (ttlMs <= 0) return
      entries.delete(key)
      entries.set(key, { clientId, secretHash, expiresAtMs: clock() + ttlMs })
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next()
        if (oldest.done) break
        entries.delete(oldest.value)
      }
    },

    get size() {
      return entries.size
    },
  }
}
