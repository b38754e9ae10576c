import type { IntrospectionLivenessOptions } from './introspection-liveness.js'
import type { RedisLivenessOptions } from './redis-liveness.js'
import type { AccessTokenClaims } from './types.js'

/**
 * Signature and expiry only: a revoked token keeps verifying until it expires. For services that
 * accept that (tokens live minutes); everyone else wants `redis` or `introspection`.
 *
 * @example
 * ```ts
 * createVerifier({ ...options, liveness: { mode: 'none' } })
 * ```
 */
export interface NoLivenessOptions {
  mode: 'none'
}

/**
 * How a verifier tells whether a token's grant is still live: `redis`, `introspection` or `none`.
 *
 * @example
 * ```ts
 * const liveness: LivenessOptions = { mode: 'redis', redis: 'redis://writ-redis:6379' }
 * ```
 */
export type LivenessOptions =
  | NoLivenessOptions
  | RedisLivenessOptions
  | IntrospectionLivenessOptions

/**
 * What the liveness check is doing right now, for health checks and metrics.
 *
 * @example
 * ```ts
 * app.get('/readyz', (c) => c.json(verifier.status()))
 * // {"mode":"redis","subscribed":true,"cachedGrants":42}
 * ```
 */
export type LivenessStatus =
  | { mode: 'none' }
  | {
      mode: 'redis'
      /** The revocation subscription is up, so confirmations are cached. */
      subscribed: boolean
      cachedGrants: number
    }
  | { mode: 'introspection'; cachedAnswers: number }

/** Decides whether a verified token's grant is still live. */
export interface LivenessCheck {
  /**
   * Resolves when the grant is live and `token` is the token issued for it: `claimsSha256`
   * (`tokenClaimsSha256(token)`) is the digest recorded with the grant, when one is. Throws a
   * VerifierError `token_revoked` when the grant is not live, `invalid_token` when the token is
   * not the one issued for it, and `liveness_unavailable` when that cannot be known.
   */
  check(claims: AccessTokenClaims, token: string, claimsSha256: string): Promise<void>
  status(): LivenessStatus
  close(): Promise<void>
}
