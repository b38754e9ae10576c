import { authorize, type AuthorizeRequest } from './authorize.js'
import { checkDpopBinding, DPOP_PROOF_REPLAYED } from './check-dpop-binding.js'
import { createLiveness } from './create-liveness.js'
import { createTokenSignatureCheck } from './create-token-signature-check.js'
import {
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_DPOP_ALGORITHMS,
  DEFAULT_DPOP_MAX_AGE_SECONDS,
  dpopReplayWindowSeconds,
} from './dpop-defaults.js'
import { createDpopNonces, type DpopNonces } from './dpop-nonces.js'
import { createKeyResolver } from './key-resolver.js'
import type { LivenessStatus } from './liveness.js'
import { readTokenPresentation, type TokenPresentation } from './read-token-presentation.js'
import { ReplayCache } from './replay-cache.js'
import type { AccessTokenClaims, AuthorizationDetail } from './types.js'
import { VerifierError } from './verifier-error.js'
import { checkVerifierOptions, DEFAULT_ALGORITHMS, type VerifierOptions } from './verifier-options.js'
import { checkDelegation } from './delegation.js'

/** Tokens longer than this are refused before any parsing. */
const MAX_TOKEN_LENGTH = 16 * 1024

const invalidToken = (message: string): VerifierError => new VerifierError('invalid_token', message)

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
  const problems = checkVerifierOptions(options)
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
  // Remember a proof's jti as long as it passes the iat check. Budgeted per proof key and per
  // client, so one client flooding the cache, with however many keys, only refuses its own proofs.
  const replaySize = options.dpop?.replayCacheSize ?? 100_000
  const replayPerKey = options.dpop?.replayCacheSizePerKey ?? 1000
  const replay = new ReplayCache(
    replaySize,
    dpopReplayWindowSeconds(dpopMaxAge, tolerance) * 1000,
    replayPerKey,
    options.dpop?.replayCacheSizePerClient ?? Math.max(replayPerKey, Math.floor(replaySize / 10)),
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

  const cacheLookup = options.metrics?.cacheLookup?.bind(options.metrics)
  const liveness = createLiveness(options.liveness, clock, fetch, keys, cacheLookup && ((hit) => cacheLookup('liveness', hit)))
  const verifySignedToken = createTokenSignatureCheck({
    keys,
    algorithms,
    issuer: options.issuer,
    audience,
    clockToleranceSeconds: tolerance,
    clock,
    cacheSize: options.tokenCacheSize ?? 10_000,
    // Liveness compares each token's claims digest with its grant's (computed once per token).
    digests: options.liveness.mode !== 'none',
    ...(cacheLookup ? { onCacheLookup: (hit: boolean) => cacheLookup('token', hit) } : {}),
  })

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
    // Ensure this service's limits on delegated tokens hold (no I/O: before liveness).
    checkDelegation(claims, options.delegation)

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
      // Ensure each proof is used once (RFC 9449 §11.1), within the budgets of its key and client.
      const client = claims.client_id
      const taken = replay.take(proof.jkt, proof.jti, clock(), `client:${client}`)
      if (taken === 'replayed') throw new VerifierError('invalid_dpop_proof', DPOP_PROOF_REPLAYED)
      if (taken === 'full') {
        const whose =
          replay.heldBy(proof.jkt) >= replay.maxPerOwner
            ? ' made with this key'
            : replay.heldByGroup(`client:${client}`) >= replay.maxPerGroup
              ? ' by this client'
              : ''
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
      const claims = await verifyPresented(token, presentation, seen)
      options.metrics?.verification?.('ok')
      return claims
    } catch (err) {
      options.metrics?.verification?.(err instanceof VerifierError ? err.code : 'error')
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
      const { token, presentation } = readTokenPresentation(request, requestOptions.url)
      return verify(token, presentation)
    },

    authorize: (claims, request) => authorize(claims, request, { audience }),

    errorResponse: (error) => error.toResponse(challenge),

    dpopNonce: () => nonces?.issue(),

    status: () => liveness.status(),

    close: () => liveness.close(),
  }
}
