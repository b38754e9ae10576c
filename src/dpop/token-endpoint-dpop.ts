import type { Clock } from '../clock.js'
import { WritError } from '../errors.js'
import type { OnceStore } from '../store/once-store.js'
import {
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_DPOP_ALGORITHMS,
  dpopReplayWindowSeconds,
} from '../verifier/dpop-defaults.js'
import { createDpopNonces } from '../verifier/dpop-nonces.js'
import { VerifierError } from '../verifier/verifier-error.js'
import { verifyDpopProof } from '../verifier/verify-dpop-proof.js'

export interface TokenEndpointDpopOptions {
  /** The configured issuer; each endpoint's `htu` is built from it, never from request headers. */
  issuer: string
  store: OnceStore
  clock: Clock
  /** Shared by every replica (see `dpopNonceSecret`), at least 32 bytes. */
  nonceSecret: Uint8Array
  /** Proofs must carry a server nonce (RFC 9449 §8). */
  requireNonce: boolean
  nonceLifetimeSeconds: number
  /** Oldest proof accepted, by its `iat`. */
  proofMaxAgeSeconds: number
}

/** DPoP at the broker's token endpoints (RFC 9449 §5). */
export interface TokenEndpointDpop {
  readonly algorithms: readonly string[]
  /** The current server nonce, for the `DPoP-Nonce` header. */
  nonce(): string
  /**
   * Checks the request's `DPoP` header for `POST <issuer><path>`. No header: undefined (a bearer
   * token). A valid proof, used for the first time: the thumbprint to bind the token to
   * (`cnf.jkt`).
   *
   * @throws WritError `invalid_dpop_proof` (400), or `use_dpop_nonce` (400) when the proof lacks a
   *   fresh server nonce. Store failures propagate (503).
   */
  verify(request: {
    header: string | undefined
    method: string
    path: string
    /**
     * A token the proof must be bound to (`ath`, RFC 9449 §4.2): the subject token of a token
     * exchange whose parent is DPoP-bound.
     */
    accessToken?: string
    /** The thumbprint the proof's key must have (that token's `cnf.jkt`). */
    expectedJkt?: string
  }): Promise<string | undefined>
}

/**
 * Builds the token endpoints' DPoP check (resources use `checkResourceDpop`, the verifier's check;
 * both share the verifier's DPoP defaults): the proof itself (typ, alg, embedded public key,
 * signature, `htm`, `htu` = the endpoint URL under the configured issuer, `iat` window; no `ath`
 * at a token endpoint), the server nonce, and single use of its `jti` across replicas
 * (`store.consumeOnce`).
 *
 * @example
 * const dpop = createTokenEndpointDpop({ issuer, store, clock, nonceSecret, requireNonce: true,
 *   nonceLifetimeSeconds: 300, proofMaxAgeSeconds: 60 })
 * const header = c.req.header('dpop')
 * const cnfJkt = await dpop.verify({ header, method: 'POST', path: '/oauth/token' })
 */
export function createTokenEndpointDpop(options: TokenEndpointDpopOptions): TokenEndpointDpop {
  const { clock, store } = options
  const nonces = createDpopNonces({
    secret: options.nonceSecret,
    lifetimeSeconds: options.nonceLifetimeSeconds,
    clock,
  })
  // A proof passes the iat check for the replay window; its marker must live that long.
  const replayTtlSeconds = dpopReplayWindowSeconds(
    options.proofMaxAgeSeconds,
    DEFAULT_CLOCK_TOLERANCE_SECONDS,
  )

  return {
    algorithms: DEFAULT_DPOP_ALGORITHMS,

    nonce: () => nonces.issue(),

    async verify({ header, method, path, accessToken, expectedJkt }) {
      if (header === undefined) return undefined
      // Ensure exactly one proof (a repeated header arrives joined with commas).
      if (header.includes(',')) {
        throw new WritError('invalid_dpop_proof', 400, 'DPoP: send exactly one DPoP header')
      }
      let jkt: string
      let jti: string
      try {
        // Ensure the proof is well formed, signed by its embedded public key, made for this method
        // and this endpoint (htu under the configured issuer), recent, and carries a fresh nonce.
        ;({ jkt, jti } = await verifyDpopProof({
          proof: header,
          method,
          url: `${options.issuer}${path}`,
          algorithms: DEFAULT_DPOP_ALGORITHMS,
          maxAgeSeconds: options.proofMaxAgeSeconds,
          clockToleranceSeconds: DEFAULT_CLOCK_TOLERANCE_SECONDS,
          clock,
          ...(accessToken !== undefined ? { accessToken } : {}),
          ...(expectedJkt !== undefined ? { expectedJkt } : {}),
          ...(options.requireNonce
            ? { nonce: { check: (n: string) => nonces.check(n), freshNonce: () => nonces.issue() } }
            : {}),
        }))
      } catch (err) {
        if (!(err instanceof VerifierError)) throw err
        const code = err.code === 'use_dpop_nonce' ? 'use_dpop_nonce' : 'invalid_dpop_proof'
        throw new WritError(code, 400, `DPoP: ${err.message}`, { cause: err })
      }
      // Ensure each proof is used once, across every replica (RFC 9449 §11.1).
      if (!(await store.consumeOnce('dpop-proof', `${jkt}:${jti}`, replayTtlSeconds))) {
        const message = 'DPoP: this proof was already used; make a new one per request'
        throw new WritError('invalid_dpop_proof', 400, message)
      }
      return jkt
    },
  }
}

