import {
  createHmac,
  createSecretKey,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto'
import { verifySecret } from '../clients/index.js'
import type { Clock } from '../clock.js'
import { WritError } from '../errors.js'

/** Longest admin token looked at; anything longer fails before argon2 runs. */
const MAX_TOKEN_LENGTH = 1024

/** RFC 6750 §2.1: `Bearer` (any case), one space, a token68. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i

export interface AdminAuthenticatorOptions {
  /** argon2id PHC hash of the admin token (`admin.tokenHash`); undefined turns the API off. */
  tokenHash: string | undefined
  clock: Clock
  /** How long a verified token is trusted without running argon2 again. 0 disables the cache. */
  cacheSeconds: number
  /** Argon2 verifications of not-yet-cached tokens allowed at once; beyond, 503. Default 2. */
  maxConcurrentVerifications?: number
  /** Key of the HMAC that names the cached token. Random per process when absent. */
  hmacKey?: Uint8Array
  /** Checks a token against the hash. Default: argon2 verify. */
  verifyToken?: (tokenHash: string, token: string) => Promise<boolean>
}

export interface AdminAuthenticator {
  /** Whether an admin token hash is configured; without one every call answers 404. */
  readonly enabled: boolean
  /**
   * Checks a request's `Authorization` header. Resolves when it carries the admin bearer token;
   * throws a WritError otherwise: `not_found` (404) when the admin API is off, `invalid_token`
   * (401, with a `Bearer realm="writ"` challenge) for a missing, malformed or wrong token, and
   * `temporarily_unavailable` (503) when too many unverified tokens are being checked at once.
   */
  authenticate(authorization: string | undefined): Promise<void>
}

const invalidToken = (message: string, detail: string): WritError =>
  new WritError('invalid_token', 401, message, { detail })

/**
 * Creates the admin authenticator. The admin token is stored only as an argon2id hash. A token that
 * verified is remembered for `cacheSeconds` as an HMAC of itself (never in clear), compared in
 * constant time, so an admin session does not pay argon2 per request. There is one admin token,
 * hence one cache slot; a changed hash (a new authenticator) forgets it.
 *
 * @example
 * const admin = createAdminAuthenticator({ tokenHash: config.admin.tokenHash, clock: systemClock,
 *   cacheSeconds: config.admin.tokenCacheSeconds })
 * await admin.authenticate(request.headers.get('authorization') ?? undefined)
 */
export function createAdminAuthenticator(options: AdminAuthenticatorOptions): AdminAuthenticator {
  const { tokenHash, clock } = options
  const verifyToken = options.verifyToken ?? verifySecret
  const cacheMs = options.cacheSeconds * 1000
  const maxInFlight = Math.max(1, options.maxConcurrentVerifications ?? 2)
  const hmacKey: KeyObject = createSecretKey(options.hmacKey ?? randomBytes(32))
  let verified: { mac: Buffer; expiresAtMs: number } | null = null
  /** One argon2 run per distinct token at a time, shared by concurrent requests. */
  const inFlight = new Map<string, Promise<boolean>>()

  const macOf = (token: string): Buffer => createHmac('sha256', hmacKey).update(token).digest()

  const isCached = (mac: Buffer): boolean => {
    if (!verified) return false
    if (verified.expiresAtMs <= clock()) {
      verified = null
      return false
    }
    // Ensure the comparison takes the same time whatever the presented token is.
    return timingSafeEqual(mac, verified.mac)
  }

  const verifyShared = (mac: Buffer, token: string): Promise<boolean> => {
    const key = mac.toString('base64url')
    let pending = inFlight.get(key)
    if (!pending) {
      // Ensure unauthenticated callers cannot make the broker run argon2 without limit.
      if (inFlight.size >= maxInFlight) {
        throw new WritError(
          'temporarily_unavailable',
          503,
          'too many admin authentication attempts in progress; retry shortly',
          { retryAfterSeconds: 1 },
        )
      }
      pending = verifyToken(tokenHash!, token)
        .catch(() => false)
        .finally(() => inFlight.delete(key))
      inFlight.set(key, pending)
    }
    return pending
  }

  return {
    enabled: tokenHash !== undefined,

    async authenticate(authorization) {
      // Ensure the admin API is off unless an admin token hash is configured.
      if (tokenHash === undefined) {
        throw new WritError(
          'not_found',
          404,
          'the admin API is disabled: set admin.tokenHash (WRIT_ADMIN_TOKEN_HASH) to enable it',
        )
      }
      if (authorization === undefined || authorization.trim() === '') {
        throw invalidToken('admin bearer token required', 'no Authorization header')
      }
      const match = BEARER.exec(authorization.trim())
      // Ensure the header is a well-formed Bearer credential of bounded length.
      if (!match || match[1]!.length > MAX_TOKEN_LENGTH) {
        throw invalidToken('invalid admin token', 'not a Bearer token, or too long')
      }
      const token = match[1]!
      const mac = macOf(token)
      if (isCached(mac)) return
      // Ensure the token matches the configured argon2id hash; only a match is remembered.
      if (!(await verifyShared(mac, token))) {
        throw invalidToken('invalid admin token', 'wrong token')
      }
      if (cacheMs > 0) verified = { mac, expiresAtMs: clock() + cacheMs }
    },
  }
}
