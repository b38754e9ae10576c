import { errors } from 'jose'
import { VerifierError } from './verifier-error.js'

const invalidToken = (message: string, options: { cause?: unknown } = {}): VerifierError =>
  new VerifierError('invalid_token', message, options)

/**
 * Maps jose's verification errors to stable codes with messages that never echo the token. A
 * VerifierError passes through unchanged.
 *
 * @example
 * ```ts
 * try { await jwtVerify(token, key, options) } catch (err) { throw fromJoseError(err) }
 * ```
 */
export function fromJoseError(err: unknown): VerifierError {
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
