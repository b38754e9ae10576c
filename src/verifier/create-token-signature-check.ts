import { jwtVerify, type JWTPayload } from 'jose'
import { tokenClaimsSha256 } from '../wire/claims-digest.js'
import { checkAccessTokenClaims } from './check-access-token-claims.js'
import { ExpiringLru } from './expiring-lru.js'
import { fromJoseError } from './from-jose-error.js'
import type { KeyResolver } from './key-resolver.js'
import type { AccessTokenClaims } from './types.js'
import { VerifierError } from './verifier-error.js'

/** Only tokens up to this length are remembered as verified. */
const CACHEABLE_TOKEN_LENGTH = 8 * 1024
/** RFC 9068 §2.2 claims, all checked for presence and type. */
const REQUIRED_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id']

/** A token whose signature and claims were verified, as the verifier remembers it. */
export interface VerifiedToken {
  claims: AccessTokenClaims
  /** The key set version it was verified under. */
  keyVersion: number
  /** `tokenClaimsSha256(token)` for liveness; '' when liveness is `none` (never compared). */
  claimsSha256: string
}

/** Options of {@link createTokenSignatureCheck}. */
export interface TokenSignatureCheckOptions {
  keys: Pick<KeyResolver, 'resolve' | 'version' | 'refreshIfStale'>
  /** Token algorithms accepted. */
  algorithms: string[]
  issuer: string
  audience: string | string[]
  clockToleranceSeconds: number
  /** Milliseconds since the epoch. */
  clock: () => number
  /** Most verified tokens remembered. */
  cacheSize: number
  /** Told whether each token was found in the cache of verified tokens. */
  onCacheLookup?: (hit: boolean) => void
  /** Compute each token's claims digest, for a liveness check that compares it. */
  digests: boolean
}

/**
 * The signature and claims half of verifying a token (RFC 9068, RFC 8725): an allowed asymmetric
 * algorithm, a key from the issuer's set chosen by `kid`, `typ: at+jwt`, `iss`, `aud`,
 * `exp`/`nbf` within the tolerance, every RFC 9068 claim present, and the claims jose does not
 * check ({@link checkAccessTokenClaims}). The signature is checked once per token: a verified
 * token is remembered (with its claims digest) until it expires or the key set changes, and only
 * its time window is checked again.
 *
 * @throws VerifierError
 *
 * @example
 * ```ts
 * const check = createTokenSignatureCheck({ keys, algorithms: ['ES256'], issuer, audience,
 *   clockToleranceSeconds: 5, clock: Date.now, cacheSize: 10_000, digests: true })
 * const { claims, claimsSha256 } = await check(token)
 * ```
 */
export function createTokenSignatureCheck(
  options: TokenSignatureCheckOptions,
): (token: string) => Promise<VerifiedToken> {
  const { keys, algorithms, clock, clockToleranceSeconds: tolerance } = options
  /**
   * Verified tokens: the signature is checked once per token, times and liveness every time. With
   * each, the digest of its claims that liveness compares with the grant's (computed once).
   */
  const verified = new ExpiringLru<VerifiedToken>(options.cacheSize)

  return async function verifySignedToken(token: string): Promise<VerifiedToken> {
    const now = clock()
    const cached = verified.get(token, now)
    const hit = cached !== undefined && cached.keyVersion === keys.version
    options.onCacheLookup?.(hit)
    if (cached !== undefined && hit) {
      keys.refreshIfStale()
      const { exp, nbf } = cached.claims
      // Ensure a remembered token is still within its time window.
      if (exp <= now / 1000 - tolerance) {
        throw new VerifierError('token_expired', 'the token has expired')
      }
      if (nbf !== undefined && nbf > now / 1000 + tolerance) {
        throw new VerifierError('invalid_token', 'the token is not valid yet (nbf)')
      }
      return cached
    }
    const keyVersion = keys.version
    let payload: JWTPayload
    try {
      // Ensure: an allowed asymmetric algorithm (never none, never HS*), a key from the issuer's
      // set chosen by kid alone, a valid signature, typ at+jwt, iss, aud, exp/nbf within the
      // tolerance, and every RFC 9068 claim present.
      ;({ payload } = await jwtVerify(token, (header) => keys.resolve(header), {
        algorithms,
        typ: 'at+jwt',
        issuer: options.issuer,
        audience: options.audience,
        requiredClaims: REQUIRED_CLAIMS,
        clockTolerance: tolerance,
        currentDate: new Date(now),
      }))
    } catch (err) {
      throw fromJoseError(err)
    }
    const claims = checkAccessTokenClaims(payload, { clock, clockToleranceSeconds: tolerance })
    const claimsSha256 = options.digests ? tokenClaimsSha256(token) : ''
    const entry = { claims, keyVersion, claimsSha256 }
    // A key set that changed while this token was checked is not trusted for the cache.
    if (token.length <= CACHEABLE_TOKEN_LENGTH && keyVersion === keys.version) {
      verified.set(token, entry, (claims.exp + tolerance) * 1000)
    }
    return entry
  }
}
