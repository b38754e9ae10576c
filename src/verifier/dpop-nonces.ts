import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * Server-provided DPoP nonces (RFC 9449 §8, §9).
 *
 * @example
 * ```ts
 * if (!nonces.check(proofNonce)) response.headers.set('DPoP-Nonce', nonces.issue())
 * ```
 */
export interface DpopNonces {
  /** A nonce to send in the `DPoP-Nonce` header; the same one for a whole second. */
  issue(): string
  /** Whether `nonce` was issued with this secret within the last `lifetimeSeconds`. */
  check(nonce: string): boolean
}

/**
 * Options of {@link createDpopNonces}.
 *
 * @example
 * ```ts
 * const options: DpopNoncesOptions = { secret: randomBytes(32), clock: Date.now }
 * ```
 */
export interface DpopNoncesOptions {
  /** At least 32 bytes; every server that must accept the others' nonces shares it. */
  secret: Uint8Array
  /** How long a nonce is accepted. Default 300. */
  lifetimeSeconds?: number
  /** Milliseconds since the epoch. */
  clock: () => number
}

/** A nonce from a little in the future is fine: servers sharing the secret may disagree a bit. */
const FUTURE_SKEW_SECONDS = 5
const MAC_BYTES = 16

/**
 * Stateless nonces: `<issue time, base 36>.<HMAC-SHA-256 of it, 128 bits, base64url>`. Nothing
 * is stored; any server holding the secret can check any other's nonce while it is fresh.
 *
 * @example
 * ```ts
 * const nonces = createDpopNonces({ secret: randomBytes(32), clock: Date.now })
 * response.headers.set('DPoP-Nonce', nonces.issue())
 * nonces.check(proofNonce) // true while fresh
 * ```
 */
export function createDpopNonces(options: DpopNoncesOptions): DpopNonces {
  const { clock } = options
  const lifetimeSeconds = options.lifetimeSeconds ?? 300
  if (!(options.secret instanceof Uint8Array) || options.secret.byteLength < 32) {
    throw new TypeError('the DPoP nonce secret must be at least 32 bytes')
  }
  if (!Number.isSafeInteger(lifetimeSeconds) || lifetimeSeconds < 1) {
    throw new TypeError('the DPoP nonce lifetime must be a positive integer of seconds')
  }
  const secret = Buffer.from(options.secret)
  const mac = (time: string): Buffer =>
    createHmac('sha256', secret).update(`writ-dpop-nonce.${time}`).digest().subarray(0, MAC_BYTES)

  let cached: { second: number; nonce: string } | undefined
  return {
    issue() {
      const second = Math.floor(clock() / 1000)
      if (cached?.second !== second) {
        const time = second.toString(36)
        cached = { second, nonce: `${time}.${mac(time).toString('base64url')}` }
      }
      return cached.nonce
    },
    check(nonce) {
      const match = /^([0-9a-z]{1,12})\.([A-Za-z0-9_-]{22})$/.exec(nonce)
      if (!match) return false
      const [, time, tag] = match as unknown as [string, string, string]
      const issuedAt = parseInt(time, 36)
      const now = Math.floor(clock() / 1000)
      // Ensure the nonce is fresh: issued within the lifetime, and not from the far future.
      if (issuedAt < now - lifetimeSeconds || issuedAt > now + FUTURE_SKEW_SECONDS) return false
      // Ensure this secret made it (constant-time comparison of the MAC).
      return timingSafeEqual(Buffer.from(tag, 'base64url'), mac(time))
    },
  }
}
