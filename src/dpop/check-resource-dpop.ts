import type { Clock } from '../clock.js'
import { WritError } from '../errors.js'
import type { OnceStore } from '../store/once-store.js'
import { checkDpopBinding, DPOP_PROOF_REPLAYED } from '../verifier/check-dpop-binding.js'
import {
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  DEFAULT_DPOP_ALGORITHMS,
  dpopReplayWindowSeconds,
} from '../verifier/dpop-defaults.js'
import { type AuthScheme, VerifierError } from '../verifier/verifier-error.js'

/** What {@link checkResourceDpop} needs of the broker. */
export interface ResourceDpopOptions {
  store: OnceStore
  clock: Clock
  /** Oldest proof accepted, by its `iat` (`dpop.proofMaxAgeSeconds`). */
  proofMaxAgeSeconds: number
}

/** A request to one of the broker's own resources, with the token it presented. */
export interface ResourceDpopRequest {
  /** The access token as sent. */
  token: string
  /** The thumbprint its grant is bound to; undefined for a bearer token. */
  cnfJkt: string | undefined
  /** The `Authorization` scheme it came with. */
  scheme: AuthScheme
  /** The `DPoP` header, if any. */
  proof: string | undefined
  method: string
  /** The resource's URL under the configured issuer, never one built from request headers. */
  url: string
}

/**
 * The resource-side DPoP check at the broker's own resources (`POST /v1/credentials/aws`): the
 * verifier's check ({@link checkDpopBinding}, with its defaults: algorithms, clock tolerance),
 * then single use of the proof across every replica (`store.consumeOnce` for the replay window).
 * Resolves for a bearer token presented as one and for a bound token with a fresh valid proof.
 *
 * @throws WritError `invalid_token` (401) when the scheme does not match the token,
 *   `invalid_dpop_proof` (401) for a missing, invalid or replayed proof. Store failures propagate.
 *
 * @example
 * ```ts
 * await checkResourceDpop({ token, cnfJkt: grant.cnfJkt, scheme, proof: c.req.header('dpop'),
 *   method: 'POST', url: `${issuer}/v1/credentials/aws` }, { store, clock, proofMaxAgeSeconds: 60 })
 * ```
 */
export async function checkResourceDpop(
  request: ResourceDpopRequest,
  options: ResourceDpopOptions,
): Promise<void> {
  const tolerance = DEFAULT_CLOCK_TOLERANCE_SECONDS
  let proof
  try {
    // Ensure the token's DPoP binding holds: the scheme, and for a bound token one valid proof by
    // its key for this method, this URL and this token (ath), recent.
    proof = await checkDpopBinding(
      {
        token: request.token,
        jkt: request.cnfJkt,
        scheme: request.scheme,
        dpop: { proof: request.proof, method: request.method, url: request.url },
      },
      {
        algorithms: DEFAULT_DPOP_ALGORITHMS,
        maxAgeSeconds: options.proofMaxAgeSeconds,
        clockToleranceSeconds: tolerance,
        clock: options.clock,
      },
    )
  } catch (err) {
    if (!(err instanceof VerifierError)) throw err
    const code = err.code === 'invalid_token' ? 'invalid_token' : 'invalid_dpop_proof'
    throw new WritError(code, 401, err.message, { cause: err })
  }
  if (proof === undefined) return
  // Ensure each proof is used once, across every replica (RFC 9449 §11.1).
  const ttl = dpopReplayWindowSeconds(options.proofMaxAgeSeconds, tolerance)
  if (!(await options.store.consumeOnce('dpop-proof', `${proof.jkt}:${proof.jti}`, ttl))) {
    throw new WritError('invalid_dpop_proof', 401, DPOP_PROOF_REPLAYED)
  }
}
