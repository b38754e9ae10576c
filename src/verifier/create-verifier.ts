import { errors, type JWK, jwtVerify, type JWTPayload } from 'jose'
import { tokenClaimsSha256 } from '../wire/claims-digest.js'
import { authorize, type AuthorizeRequest } from './authorize.js'
import { checkDpopBinding, DPOP_PROOF_REPLAYED } from './check-dpop-binding.js'
import {
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_DPOP_ALGORITHMS,
  DEFAULT_DPOP_MAX_AGE_SECONDS,
  dpopReplayWindowSeconds,
} from './dpop-defaults.js'
import { createDpopNonces, type DpopNonces } from './dpop-nonces.js'
import { ExpiringLru } from './expiring-lru.js'
import { createIntrospectionLiveness } from './introspection-liveness.js'
import { createKeyResolver } from './key-resolver.js'
import type { LivenessCheck, LivenessOptions, LivenessStatus } from './liveness.js'
import { createRedisLiveness } from './redis-liveness.js'
import { ReplayCache } from './replay-cache.js'
import type { AccessTokenClaims, AuthorizationDetail } from './types.js'
import { type AuthScheme, VerifierError } from './verifier-error.js'

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

/** Tokens longer than this are refused before any parsing. */
const MAX_TOKEN_LENGTH = 16 * 1024
/** Only tokens up to this length are remembered as verified. */
const CACHEABLE_TOKEN_LENGTH = 8 * 1024
/** RFC 9068 §2.2 claims, all checked for presence and type. */
const REQUIRED_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id']

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
   * Require server nonces (RFC 9449 §9): proofs must carry a nonce from the `DPoP-Nonce` header.
   * Every instance of the service shares `secret` (at least 32 bytes).
   */
  nonce?: { secret: Uint8Array; lifetimeSeconds?: number }
}

/**
 * Options of {@link createVerifier}. `issuer`, `audience`, one of `jwks`/`jwksUri`, and `liveness`
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
}

/**
 * How a token was presented, for {@link Verifier.verify}.
 *
 * @example
 * ```ts
 * await verifier.verify(token, { scheme: 'DPoP', dpop: { proof, method: 'GET', url } })
 * ```
 */
export interface TokenPresentation {
  /** The `Authorization` scheme. Default `Bearer`. */
  scheme?: AuthScheme
  /** The request the token came with, for DPoP: its `DPoP` header, method and URL. */
  dpop?: { proof: string | null | undefined; method: string; url: string }
}

/**
 * A verifier made by {@link createVerifier}.
 *
 * @example
 * ```ts
 * const claims = await verifier.verifyRequest(request)
 * // At this verifier's audience unless the resource names a location:
 * verifier.authorize(claims, { type: 'repo', action: 'read', resource: { identifier: 'a.md' } })
 * ```
 */
export interface Verifier {
  /**
   * Verifies an access token: signature, header, claims, DPoP binding, then liveness.
   * @throws VerifierError
   */
  verify(token: string, presentation?: TokenPresentation): Promise<AccessTokenClaims>
  /**
   * Verifies the access token of an HTTP request (`Authorization: Bearer` or `DPoP` with a
   * `DPoP` proof header). `url` overrides the request's URL for the proof's `htu`, for services
   * behind a proxy that rewrites it.
   * @throws VerifierError
   */
  verifyRequest(request: Request, options?: { url?: string }): Promise<AccessTokenClaims>
  /**
   * {@link authorize} at this service: a request without `resource.location` is checked against
   * the configured `audience` (the one the token names, when several are configured).
   */
  authorize(claims: AccessTokenClaims, request: AuthorizeRequest): AuthorizationDetail
  /** The response for a VerifierError, with this verifier's realm and DPoP algorithms. */
  errorResponse(error: VerifierError): Response
  /** A fresh DPoP nonce to hand out, when nonces are required. */
  dpopNonce(): string | undefined
  status(): LivenessStatus
  /** Closes the liveness connections. Afterwards every token is refused. */
  close(): Promise<void>
}

/** A token whose signature and claims were verified, as the verifier remembers it. */
interface VerifiedToken {
  claims: AccessTokenClaims
  /** The key set version it was verified under. */
  keyVersion: number
  /** `tokenClaimsSha256(token)` for liveness; '' when liveness is `none` (never compared). */
  claimsSha256: string
}

const deepFreeze = <T>(value: T): T => {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const member of Object.values(value)) deepFreeze(member)
  }
  return value
}

const invalidToken = (message: string, options: { cause?: unknown } = {}): VerifierError =>
  new VerifierError('invalid_token', message, options)

/** Maps jose's verification errors to stable codes with messages that never echo the token. */
function fromJose(err: unknown): VerifierError {
  if (err instanceof VerifierError) return err
  const cause = { cause: err }
  if (err instanceof errors.JWTExpired) {
    return new VerifierError('token_expired', 'the token has expired', cause)
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return invalidToken(`the token has no ${err.claim} claim`, cause)
    switch (err.claim) {
      case 'aud':
        return new VerifierError(
          'audience_mismatch',
          'the token was not issued for this service (aud)',
          cause,
        )
      case 'iss':
        return new VerifierError(
          'issuer_mismatch',
          'the token was not issued by the expected issuer (iss)',
          cause,
        )
      case 'nbf':
        return invalidToken('the token is not valid yet (nbf)', cause)
      case 'typ':
        return invalidToken('the token is not an access token (typ must be at+jwt)', cause)
      default:
        return invalidToken(`the token's ${err.claim} claim is invalid`, cause)
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return invalidToken('the token algorithm is not allowed', cause)
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return invalidToken('the token signature is invalid', cause)
  }
  return invalidToken('the token is malformed', cause)
}

function checkOptions(options: VerifierOptions): string[] {
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
  const integers: Array<[string, number | undefined, number]> = [
    ['tokenCacheSize', options?.tokenCacheSize, 0],
    ['jwksCooldownSeconds', options?.jwksCooldownSeconds, 0],
    ['jwksMaxAgeSeconds', options?.jwksMaxAgeSeconds, 1],
    ['dpop.maxAgeSeconds', options?.dpop?.maxAgeSeconds, 1],
    ['dpop.replayCacheSize', options?.dpop?.replayCacheSize, 1],
    ['dpop.replayCacheSizePerKey', options?.dpop?.replayCacheSizePerKey, 1],
  ]
  for (const [name, value, min] of integers) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) {
      problems.push(`${name}: an integer of at least ${min}`)
    }
  }
  return problems
}

/**
 * Creates a verifier for writ access tokens, for the services agents call. Strict by default
 * (RFC 9068, RFC 8725): an explicit algorithm allow-list (ES256, EdDSA), `typ: at+jwt`, the
 * exact `iss`, a required `aud`, `exp`/`nbf`/`iat` with a small tolerance, every RFC 9068 claim
 * present; `jku`, `x5u`, `jwk`, `x5c` and `crit` headers are refused. An unknown `kid` refetches
 * the key set (at most once per cooldown), so key rotation needs no restart. With `redis`
 * liveness, the broker's key-set announcements on the revocation channel withdraw the kids it no
 * longer publishes as soon as they arrive (remembered tokens included), and fetch announced new
 * keys at once; a lost subscription refetches the key set when it is back. DPoP-bound tokens
 * (`cnf.jkt`) are only accepted with a valid proof (RFC 9449). Finally the grant must be live, and
 * (in `redis` and `introspection` mode) the token must be the one issued for it: its claims digest
 * the one the broker recorded with the grant.
 *
 * @throws TypeError listing every problem with the options.
 *
 * @example
 * ```ts
 * import { createVerifier } from 'writ/verifier'
 *
 * const verifier = createVerifier({
 *   issuer: 'https://writ.example.com',
 *   audience: 'https://git.example.com/acme/app',
 *   jwksUri: 'https://writ.example.com/.well-known/jwks.json',
 *   liveness: { mode: 'redis', redis: 'redis://writ-redis:6379', keyPrefix: 'writ:' },
 * })
 * const claims = await verifier.verifyRequest(request)
 * // At this verifier's audience (https://git.example.com/acme/app) unless a location is given:
 * verifier.authorize(claims, { type: 'repo', action: 'read', resource: { identifier: 'a.md' } })
 * ```
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const problems = checkOptions(options)
  if (problems.length > 0) {
    throw new TypeError(`invalid verifier options:\n  - ${problems.join('\n  - ')}`)
  }

  const clock = options.clock ?? Date.now
  const fetch = options.fetch ?? globalThis.fetch
  const tolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS
  const algorithms = [...(options.algorithms ?? DEFAULT_ALGORITHMS)]
  const audience = typeof options.audience === 'string' ? options.audience : [...options.audience]
  const dpopAlgorithms = options.dpop?.algorithms ?? DEFAULT_DPOP_ALGORITHMS
  const dpopMaxAge = options.dpop?.maxAgeSeconds ?? DEFAULT_DPOP_MAX_AGE_SECONDS
  // Remember a proof's jti as long as it passes the iat check. Budgeted per proof key, so one key
  // holder flooding the cache only refuses its own proofs.
  const replay = new ReplayCache(
    options.dpop?.replayCacheSize ?? 100_000,
    dpopReplayWindowSeconds(dpopMaxAge, tolerance) * 1000,
    options.dpop?.replayCacheSizePerKey ?? 1000,
  )
  const nonces: DpopNonces | undefined = options.dpop?.nonce
    ? createDpopNonces({ ...options.dpop.nonce, clock })
    : undefined
  const dpopBinding = {
    algorithms: dpopAlgorithms,
    maxAgeSeconds: dpopMaxAge,
    clockToleranceSeconds: tolerance,
    clock,
    ...(nonces ? { nonce: { check: nonces.check, freshNonce: nonces.issue } } : {}),
  }
  const challenge = {
    ...(options.realm !== undefined ? { realm: options.realm } : {}),
    dpopAlgorithms,
  }

  const keys = createKeyResolver({
    ...(options.jwks !== undefined
      ? { jwks: options.jwks }
      : { jwksUri: options.jwksUri as string }),
    algorithms,
    fetch,
    clock,
    cooldownSeconds: options.jwksCooldownSeconds ?? 30,
    maxAgeSeconds: options.jwksMaxAgeSeconds ?? 600,
    timeoutMs: 5000,
  })

  const liveness: LivenessCheck =
    options.liveness.mode === 'redis'
      ? createRedisLiveness(options.liveness, clock, {
          onKeySet: (kids) => keys.keepOnly(kids),
          onResubscribed: () => keys.refreshSoon(),
        })
      : options.liveness.mode === 'introspection'
        ? createIntrospectionLiveness(options.liveness, clock, fetch)
        : {
            check: async () => undefined,
            status: () => ({ mode: 'none' }),
            close: async () => undefined,
          }

  /**
   * Verified tokens: the signature is checked once per token, times and liveness every time. With
   * each, the digest of its claims that liveness compares with the grant's (computed once).
   */
  const verified = new ExpiringLru<VerifiedToken>(options.tokenCacheSize ?? 10_000)
  const digests = options.liveness.mode !== 'none'

  /** Claims jose does not check: types of the RFC 9068 claims, `iat` not in the future, `cnf`. */
  function checkClaims(payload: JWTPayload): AccessTokenClaims {
    const claims = payload as Record<string, unknown>
    for (const name of ['sub', 'jti', 'client_id'] as const) {
      if (typeof claims[name] !== 'string' || claims[name] === '') {
        throw invalidToken(`the token's ${name} claim must be a non-empty string`)
      }
    }
    const iat = claims.iat as number
    // Ensure the token was not issued in the future (beyond the tolerance).
    if (iat > clock() / 1000 + tolerance) {
      throw invalidToken('the token was issued in the future (iat)')
    }
    const details = claims.authorization_details
    if (details !== undefined && !Array.isArray(details)) {
      throw invalidToken('the token\'s authorization_details claim must be an array')
    }
    // Ensure a confirmation we cannot check is never ignored (only DPoP's jkt is understood).
    if (claims.cnf !== undefined) {
      const cnf = claims.cnf as Record<string, unknown> | null
      const onlyJkt = !!cnf && typeof cnf === 'object' && Object.keys(cnf).length === 1
      if (!onlyJkt || typeof cnf.jkt !== 'string' || cnf.jkt === '') {
        throw invalidToken('the token\'s cnf claim must be {"jkt": thumbprint}')
      }
    }
    return deepFreeze(claims as AccessTokenClaims)
  }

  async function verifySignedToken(token: string): Promise<VerifiedToken> {
    const now = clock()
    const cached = verified.get(token, now)
    if (cached !== undefined && cached.keyVersion === keys.version) {
      keys.refreshIfStale()
      const { exp, nbf } = cached.claims
      // Ensure a remembered token is still within its time window.
      if (exp <= now / 1000 - tolerance) {
        throw new VerifierError('token_expired', 'the token has expired')
      }
      if (nbf !== undefined && nbf > now / 1000 + tolerance) {
        throw invalidToken('the token is not valid yet (nbf)')
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
        audience,
        requiredClaims: REQUIRED_CLAIMS,
        clockTolerance: tolerance,
        currentDate: new Date(now),
      }))
    } catch (err) {
      throw fromJose(err)
    }
    const claims = checkClaims(payload)
    const entry = { claims, keyVersion, claimsSha256: digests ? tokenClaimsSha256(token) : '' }
    // A key set that changed while this token was checked is not trusted for the cache.
    if (token.length <= CACHEABLE_TOKEN_LENGTH && keyVersion === keys.version) {
      verified.set(token, entry, (claims.exp + tolerance) * 1000)
    }
    return entry
  }

  /** Verifies a presented token; `seen.bound` tells the caller which challenge scheme applies. */
  async function verifyPresented(
    token: string,
    presentation: TokenPresentation,
    seen: { bound: boolean },
  ): Promise<AccessTokenClaims> {
    const scheme = presentation.scheme ?? 'Bearer'
    // Ensure the token is a compact JWS of sane size before anything parses it.
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      throw invalidToken('the access token is missing or too long')
    }
    const { claims, claimsSha256 } = await verifySignedToken(token)

    const jkt = claims.cnf?.jkt
    seen.bound = jkt !== undefined
    // Ensure the token's DPoP binding holds: the scheme, and for a bound token one valid proof by
    // its key for this request and token.
    const proof = await checkDpopBinding(
      { token, jkt, scheme, ...(presentation.dpop ? { dpop: presentation.dpop } : {}) },
      dpopBinding,
    )

    // Ensure the grant is still live (last but one: it is the only step that may do I/O).
    await liveness.check(claims, token, claimsSha256)

    if (proof !== undefined) {
      // Ensure each proof is used once (RFC 9449 §11.1), within the proof key's own budget.
      const taken = replay.take(proof.jkt, proof.jti, clock())
      if (taken === 'replayed') throw new VerifierError('invalid_dpop_proof', DPOP_PROOF_REPLAYED)
      if (taken === 'full') {
        const whose = replay.heldBy(proof.jkt) >= replay.maxPerOwner ? ' made with this key' : ''
        throw new VerifierError(
          'invalid_dpop_proof',
          `too many recent DPoP proofs${whose} to rule out a replay; retry shortly`,
        )
      }
    }
    return claims
  }

  async function verify(
    token: string,
    presentation: TokenPresentation = {},
  ): Promise<AccessTokenClaims> {
    const seen = { bound: false }
    try {
      return await verifyPresented(token, presentation, seen)
    } catch (err) {
      // The challenge names the scheme the client must use: DPoP for bound tokens and requests.
      const dpop = seen.bound || presentation.scheme === 'DPoP'
      if (err instanceof VerifierError && err.scheme !== 'DPoP' && dpop) {
        throw new VerifierError(err.code, err.message, {
          scheme: 'DPoP',
          cause: err.cause,
          ...(err.dpopNonce !== undefined ? { dpopNonce: err.dpopNonce } : {}),
        })
      }
      throw err
    }
  }

  return {
    verify,

    async verifyRequest(request, requestOptions = {}) {
      const header = request.headers.get('authorization')
      // RFC 6750 §3.1: a request without credentials gets a challenge without an error code.
      if (header === null || header.trim() === '') {
        throw new VerifierError('invalid_token', 'the request carries no access token', {
          missingCredentials: true,
        })
      }
      const match = /^([A-Za-z]+) +([A-Za-z0-9\-._~+/]+=*)$/.exec(header.trim())
      const scheme = match?.[1]?.toLowerCase()
      if (!match || (scheme !== 'bearer' && scheme !== 'dpop')) {
        if (match && scheme !== 'bearer' && scheme !== 'dpop') {
          const message = 'the request carries no Bearer or DPoP access token'
          throw new VerifierError('invalid_token', message, { missingCredentials: true })
        }
        throw new VerifierError(
          'invalid_request',
          'the Authorization header must be "Bearer <token>" or "DPoP <token>"',
        )
      }
      const token = match[2] as string
      if (scheme === 'bearer') return verify(token, { scheme: 'Bearer' })
      const proof = request.headers.get('dpop')
      // Ensure exactly one DPoP header (Headers joins repeated fields with a comma).
      if (proof !== null && proof.includes(',')) {
        throw new VerifierError(
          'invalid_dpop_proof',
          'the request must carry exactly one DPoP header',
        )
      }
      return verify(token, {
        scheme: 'DPoP',
        dpop: { proof, method: request.method, url: requestOptions.url ?? request.url },
      })
    },

    authorize: (claims, request) => authorize(claims, request, { audience }),

    errorResponse: (error) => error.toResponse(challenge),

    dpopNonce: () => nonces?.issue(),

    status: () => liveness.status(),

    close: () => liveness.close(),
  }
}
