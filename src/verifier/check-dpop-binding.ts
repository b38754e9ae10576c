import { type AuthScheme, VerifierError } from './verifier-error.js'
import { type DpopProof, verifyDpopProof } from './verify-dpop-proof.js'

/**
 * What the caller answers when a proof's `jti` was already taken: the replay step stays with the
 * caller (an in-process cache at the verifier, the shared store at the broker), its answer is the
 * same everywhere.
 */
export const DPOP_PROOF_REPLAYED = 'the DPoP proof was already used; make a new one per request'

/**
 * Options of {@link checkDpopBinding}: the settings of the service the token is presented to.
 *
 * @example
 * ```ts
 * const options: DpopBindingOptions = { algorithms: DEFAULT_DPOP_ALGORITHMS, maxAgeSeconds: 60,
 *   clockToleranceSeconds: 5, clock: Date.now }
 * ```
 */
export interface DpopBindingOptions {
  /** Proof algorithms accepted. */
  algorithms: readonly string[]
  /** Oldest proof accepted, by its `iat`. */
  maxAgeSeconds: number
  clockToleranceSeconds: number
  /** Milliseconds since the epoch. */
  clock: () => number
  /** Server nonces (RFC 9449 §9), when the service requires them. */
  nonce?: { check(nonce: string): boolean; freshNonce(): string }
}

/**
 * An access token as a request presented it to a resource.
 *
 * @example
 * ```ts
 * const presented: PresentedToken = { token, jkt: claims.cnf?.jkt, scheme: 'DPoP',
 *   dpop: { proof: request.headers.get('dpop'), method: request.method, url: request.url } }
 * ```
 */
export interface PresentedToken {
  /** The access token as sent (a proof's `ath` is its hash). */
  token: string
  /** The thumbprint the token is bound to (`cnf.jkt`); undefined for a bearer token. */
  jkt: string | undefined
  /** The `Authorization` scheme it came with. */
  scheme: AuthScheme
  /** The request it came with: its `DPoP` header, method and URL (the proof's `htm`, `htu`). */
  dpop?: { proof: string | null | undefined; method: string; url: string }
}

/**
 * The resource-side DPoP check (RFC 9449 §7): a DPoP-bound token is accepted only with the DPoP
 * scheme and one valid proof made by the key it is bound to, for this method, this URL and this
 * token (`ath`), recent, carrying a server nonce when required ({@link verifyDpopProof}); a bearer
 * token is not presented with the DPoP scheme. One check, used by `writ/verifier` and by the
 * broker's own resources (`POST /v1/credentials/aws`); the broker's token endpoints check proofs
 * without a token (no `ath`, no binding) in `dpop/token-endpoint-dpop.ts`.
 *
 * Returns the verified proof of a bound token, undefined for a bearer token. The caller must still
 * take the proof's `jti` once, per key, for `dpopReplayWindowSeconds` (RFC 9449 §11.1), and answer
 * a replay with {@link DPOP_PROOF_REPLAYED}.
 *
 * @throws VerifierError `invalid_token` for a scheme that does not match the token,
 *   `invalid_dpop_proof`, or `use_dpop_nonce`.
 *
 * @example
 * ```ts
 * const proof = await checkDpopBinding(presented, options)
 * if (proof && !takeOnce(proof.jkt, proof.jti)) throw new VerifierError('invalid_dpop_proof', DPOP_PROOF_REPLAYED)
 * ```
 */
export async function checkDpopBinding(
  presented: PresentedToken,
  options: DpopBindingOptions,
): Promise<DpopProof | undefined> {
  const { jkt, scheme } = presented
  if (jkt === undefined) {
    // Ensure the DPoP scheme is only used with tokens that are actually bound.
    if (scheme === 'DPoP') {
      throw new VerifierError(
        'invalid_token',
        'this token is not DPoP-bound: send it with the Bearer scheme',
      )
    }
    return undefined
  }
  // Ensure a DPoP-bound token is never accepted as a bearer token (RFC 9449 §7.1).
  if (scheme !== 'DPoP') {
    throw new VerifierError(
      'invalid_token',
      'this token is DPoP-bound: send it with the DPoP scheme and a proof',
    )
  }
  const request = presented.dpop
  // Ensure the proof is there: without it a stolen token would be enough.
  if (!request?.proof) {
    throw new VerifierError('invalid_dpop_proof', 'the DPoP proof is missing (DPoP header)')
  }
  // Ensure exactly one proof (repeated DPoP headers arrive joined with a comma).
  if (request.proof.includes(',')) {
    throw new VerifierError('invalid_dpop_proof', 'the request must carry exactly one DPoP header')
  }
  const proof = await verifyDpopProof({
    proof: request.proof,
    method: request.method,
    url: request.url,
    accessToken: presented.token,
    algorithms: options.algorithms,
    maxAgeSeconds: options.maxAgeSeconds,
    clockToleranceSeconds: options.clockToleranceSeconds,
    clock: options.clock,
    ...(options.nonce ? { nonce: options.nonce } : {}),
    // Ensure a proof made with another key is refused before its signature is checked.
    expectedJkt: jkt,
  })
  // Ensure the proof was signed by the key the token is bound to.
  if (proof.jkt !== jkt) {
    throw new VerifierError(
      'invalid_dpop_proof',
      'the DPoP proof was signed with a key the token is not bound to',
    )
  }
  return proof
}
