import { type AuthScheme, VerifierError } from './verifier-error.js'

/**
 * How a token was presented, for `Verifier.verify`.
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
 * Reads the access token of an HTTP request and how it was presented: `Authorization: Bearer
 * <token>`, or `DPoP <token>` with the request's `DPoP` header, method and URL (`url` overrides the
 * request's, for services behind a proxy that rewrites it).
 *
 * @throws VerifierError `invalid_token` with `missingCredentials` when the request carries no
 *   Bearer or DPoP token (RFC 6750 §3.1: a challenge without an error code), `invalid_request`
 *   for a malformed `Authorization` header, `invalid_dpop_proof` for more than one DPoP header.
 *
 * @example
 * ```ts
 * const { token, presentation } = readTokenPresentation(request)
 * await verifier.verify(token, presentation)
 * ```
 */
export function readTokenPresentation(
  request: Request,
  url: string = request.url,
): { token: string; presentation: TokenPresentation } {
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
  if (scheme === 'bearer') return { token, presentation: { scheme: 'Bearer' } }
  const proof = request.headers.get('dpop')
  // Ensure exactly one DPoP header (Headers joins repeated fields with a comma).
  if (proof !== null && proof.includes(',')) {
    throw new VerifierError('invalid_dpop_proof', 'the request must carry exactly one DPoP header')
  }
  return { token, presentation: { scheme: 'DPoP', dpop: { proof, method: request.method, url } } }
}
