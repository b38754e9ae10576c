import { hkdfSync, randomBytes } from 'node:crypto'

export interface DpopNonceSecret {
  secret: Uint8Array
  /** Whether every replica derives the same secret (false: this process made one up). */
  shared: boolean
}

/**
 * The key DPoP nonces are made with. Replicas must share it, or a nonce one of them handed out is
 * refused by the next. In order: `dpop.nonceSecret` (base64), a key derived from `keys.kek` with
 * HKDF-SHA-256 (its own `info`, so the KEK's encryption use and this one stay independent), or
 * 32 random bytes for this process alone (fine for a single instance).
 *
 * @example
 * const { secret, shared } = dpopNonceSecret({
 *   nonceSecret: config.dpop.nonceSecret,
 *   kek: config.keys.kek,
 * })
 */
export function dpopNonceSecret(input: {
  nonceSecret?: string | undefined
  kek?: string | undefined
}): DpopNonceSecret {
  const source = input.nonceSecret ?? input.kek
  if (source === undefined) return { secret: randomBytes(32), shared: false }
  const ikm = Buffer.from(source, 'base64')
  const secret = hkdfSync('sha256', ikm, Buffer.alloc(0), 'writ dpop nonce v1', 32)
  return { secret: new Uint8Array(secret), shared: true }
}
