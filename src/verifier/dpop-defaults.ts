/**
 * The DPoP settings every check shares (RFC 9449): the verifier's resource-side check, the
 * broker's token endpoints and its AWS route. Defined once here, in the verifier library, because
 * the broker may import the verifier and the verifier may import nothing of the broker.
 */

/**
 * DPoP proof algorithms accepted by default: asymmetric only (RFC 9449 §4.3 check 5). The broker's
 * token endpoints accept (and advertise) exactly these.
 *
 * @example
 * ```ts
 * const algorithms = DEFAULT_DPOP_ALGORITHMS.filter((alg) => alg !== 'RS256')
 * createVerifier({ ...options, dpop: { algorithms } })
 * ```
 */
export const DEFAULT_DPOP_ALGORITHMS: readonly string[] = ['ES256', 'EdDSA', 'RS256', 'PS256']

/** Leeway for a proof's `iat` (and, at the verifier, for a token's `exp`, `nbf` and `iat`). */
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5

/** Oldest proof accepted by default, by its `iat`. */
export const DEFAULT_DPOP_MAX_AGE_SECONDS = 60

/**
 * How long a proof's `jti` must be remembered to refuse its replay: a proof passes the `iat`
 * check for at most max age + 2 × tolerance (made `tolerance` ahead of this clock, used `max age +
 * tolerance` behind it), plus one second for rounding.
 *
 * @example
 * ```ts
 * await store.consumeOnce('dpop-proof', `${jkt}:${jti}`, dpopReplayWindowSeconds(60, 5)) // 71 s
 * ```
 */
export function dpopReplayWindowSeconds(maxAgeSeconds: number, clockToleranceSeconds: number): number {
  return maxAgeSeconds + 2 * clockToleranceSeconds + 1
}
