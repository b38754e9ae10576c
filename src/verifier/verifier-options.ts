import type { JWK } from 'jose'
import type { LivenessOptions } from './liveness.js'
import type { DelegationOptions } from './delegation.js'
import type { VerifierMetrics } from './verifier-metrics.js'

/**
 * Token algorithms accepted by default (RFC 8725 §3.1: an explicit allow-list).
 *
 * @example
 * ```ts
 * createVerifier({ ...options, algorithms: [...DEFAULT_ALGORITHMS, 'PS256'] })
 * ```
 */
export const DEFAULT_ALGORITHMS: readonly string[] = ['ES256', 'EdDSA']

/** Asymmetric JWS algorithms; `none` and the HMAC family can never be allowed. */
const ASYMMETRIC = new Set([
  ...['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'],
  ...['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
])

/**
 * DPoP settings of a verifier (RFC 9449).
 *
 * @example
 * ```ts
 * createVerifier({ ...options, dpop: { maxAgeSeconds: 30, nonce: { secret: sharedSecret } } })
 * ```
 */
export interface DpopVerifierOptions {
  /** Proof algorithms accepted. Default ES256, EdDSA, RS256, PS256. */
  algorithms?: readonly string[]
  /** Oldest proof accepted, by its `iat`. Default 60. */
  maxAgeSeconds?: number
  /**
   * Most proof `jti`s remembered for replay detection, all keys together: a memory bound. When
   * that many recent proofs are held, new proofs are refused until old ones age out (never
   * forgotten early). Default 100000.
   */
  replayCacheSize?: number
  /**
   * Most proof `jti`s remembered per proof key (thumbprint) within the replay window (max age +
   * 2 × clock tolerance + 1 s, 71 s by default). A key that has made that many recent proofs has
   * its new ones refused until its own old ones age out; other keys are not affected. Default 1000
   * (about 14 requests a second per key, sustained).
   */
  replayCacheSizePerKey?: number
  /**
   * Most proof `jti`s remembered per client (the token's `client_id`), all its keys together,
   * within the replay window: a client that binds tokens to many keys and floods the cache has its
   * own new proofs refused, never another client's. Default a tenth of `replayCacheSize` (10000),
   * and at least `replayCacheSizePerKey`: filling the whole cache takes ten clients at once.
   */
  replayCacheSizePerClient?: number
  /**
   * Require server nonces (RFC 9449 §9): proofs must carry a nonce from the `DPoP-Nonce` header.
   * Every instance of the service shares `secret` (at least 32 bytes).
   */
  nonce?: { secret: Uint8Array; lifetimeSeconds?: number }
}

/**
 * Options of `createVerifier`. `issuer`, `audience`, one of `jwks`/`jwksUri`, and `liveness`
 * are required.
 *
 * @example
 * ```ts
 * const options: VerifierOptions = {
 *   issuer: 'https://writ.example.com',
 *   audience: 'https://git.example.com/acme/app',
 *   jwksUri: 'https://writ.example.com/.well-known/jwks.json',
 *   liveness: { mode: 'redis', redis: 'redis://writ-redis:6379' },
 * }
 * ```
 */
export interface VerifierOptions {
  /** The broker's issuer URL: tokens must carry exactly this `iss`. */
  issuer: string
  /** This service's identifier(s): the token's `aud` must name one. Required. */
  audience: string | readonly string[]
  /** A fixed key set. Give exactly one of `jwks` and `jwksUri`. */
  jwks?: { keys: JWK[] }
  /** The broker's `jwks_uri` (e.g. `https://writ.example.com/.well-known/jwks.json`). */
  jwksUri?: string
  /** How to tell whether a token's grant is still live. Required; see {@link LivenessOptions}. */
  liveness: LivenessOptions
  /** Called as verifications end and caches answer, for the service's metrics (`createVerifierCounters`). */
  metrics?: VerifierMetrics
  /** Token algorithms accepted. Default ES256 and EdDSA; asymmetric ones only. */
  algorithms?: readonly string[]
  /** Leeway for `exp`, `nbf` and `iat`. Default 5. */
  clockToleranceSeconds?: number
  /** For JWKS and introspection requests. Default `globalThis.fetch`. */
  fetch?: typeof globalThis.fetch
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number
  dpop?: DpopVerifierOptions
  /** Most verified tokens remembered (their signature is then not checked again). Default 10000. */
  tokenCacheSize?: number
  /** Least time between key set refetches caused by unknown `kid`s. Default 30. */
  jwksCooldownSeconds?: number
  /**
   * Age after which the key set is refetched in the background. Default 600. Also how long a kid
   * withdrawn by a key-set announcement (`redis` liveness) is refused even if a JWKS lists it.
   */
  jwksMaxAgeSeconds?: number
  /** `realm` of `WWW-Authenticate` challenges. */
  realm?: string
  /** Delegated tokens (with `act`): refuse them, or cap their depth. Default: accepted. */
  delegation?: DelegationOptions
}

/**
 * Every problem with verifier options, as `name: what is expected` lines; empty when they are
 * usable. `createVerifier` refuses options with any.
 *
 * @example
 * ```ts
 * checkVerifierOptions({ issuer: '', audience: [], liveness: { mode: 'none' } })
 * // ['issuer: required', "audience: required (…)", 'jwks or jwksUri: give exactly one']
 * ```
 */
export function checkVerifierOptions(options: VerifierOptions): string[] {
  const problems: string[] = []
  if (typeof options?.issuer !== 'string' || options.issuer === '') {
    problems.push('issuer: required')
  }
  const audience = options?.audience
  const audiences =
    typeof audience === 'string' ? [audience] : Array.isArray(audience) ? audience : []
  if (audiences.length === 0 || audiences.some((a) => typeof a !== 'string' || a === '')) {
    problems.push('audience: required (this service\'s identifier, a non-empty string or array)')
  }
  if ((options?.jwks === undefined) === (options?.jwksUri === undefined)) {
    problems.push('jwks or jwksUri: give exactly one')
  }
  if (options?.jwksUri !== undefined) {
    try {
      const url = new URL(options.jwksUri)
      if (url.protocol !== 'https:' && url.protocol !== 'http:') {
        problems.push('jwksUri: must be an http(s) URL')
      }
    } catch {
      problems.push('jwksUri: must be an http(s) URL')
    }
  }
  const mode = options?.liveness?.mode
  if (mode !== 'none' && mode !== 'redis' && mode !== 'introspection') {
    problems.push("liveness: required, with mode 'redis', 'introspection' or 'none'")
  }
  for (const [name, algs] of [
    ['algorithms', options?.algorithms],
    ['dpop.algorithms', options?.dpop?.algorithms],
  ] as const) {
    if (algs === undefined) continue
    if (!Array.isArray(algs) || algs.length === 0 || algs.some((a) => !ASYMMETRIC.has(a))) {
      const known = [...ASYMMETRIC].join(', ')
      problems.push(`${name}: a non-empty list of asymmetric JWS algorithms (${known})`)
    }
  }
  const tolerance = options?.clockToleranceSeconds
  const badTolerance = !Number.isFinite(tolerance) || tolerance! < 0 || tolerance! > 300
  if (tolerance !== undefined && badTolerance) {
    problems.push('clockToleranceSeconds: between 0 and 300')
  }
  const maxDepth = options?.delegation?.maxDepth
  if (maxDepth !== undefined && (!Number.isSafeInteger(maxDepth) || maxDepth < 0)) {
    problems.push('delegation.maxDepth: a non-negative integer')
  }
  const integers: Array<[string, number | undefined, number]> = [
    ['tokenCacheSize', options?.tokenCacheSize, 0],
    ['jwksCooldownSeconds', options?.jwksCooldownSeconds, 0],
    ['jwksMaxAgeSeconds', options?.jwksMaxAgeSeconds, 1],
    ['dpop.maxAgeSeconds', options?.dpop?.maxAgeSeconds, 1],
    ['dpop.replayCacheSize', options?.dpop?.replayCacheSize, 1],
    ['dpop.replayCacheSizePerKey', options?.dpop?.replayCacheSizePerKey, 1],
    ['dpop.replayCacheSizePerClient', options?.dpop?.replayCacheSizePerClient, 1],
  ]
  for (const [name, value, min] of integers) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) {
      problems.push(`${name}: an integer of at least ${min}`)
    }
  }
  return problems
}
