import type { JWTPayload } from 'jose'
import { checkActClaim, checkAncestorGrants } from './delegation.js'
import type { AccessTokenClaims } from './types.js'
import { VerifierError } from './verifier-error.js'

const deepFreeze = <T>(value: T): T => {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const member of Object.values(value)) deepFreeze(member)
  }
  return value
}

const invalidToken = (message: string): VerifierError => new VerifierError('invalid_token', message)

/**
 * The claims jose does not check, on a payload whose signature, `iss`, `aud`, `exp`, `nbf` and
 * required claims it has verified: the types of the RFC 9068 claims, `iat` not in the future,
 * `authorization_details` an array, and `cnf` one this verifier understands (DPoP's `jkt` only,
 * so a confirmation is never ignored). Returns the claims deep-frozen: a cached token's claims
 * are shared by every request that presents it.
 *
 * @throws VerifierError `invalid_token`.
 *
 * @example
 * ```ts
 * const claims = checkAccessTokenClaims(payload, { clock: Date.now, clockToleranceSeconds: 5 })
 * ```
 */
export function checkAccessTokenClaims(
  payload: JWTPayload,
  options: { clock: () => number; clockToleranceSeconds: number },
): AccessTokenClaims {
  const claims = payload as Record<string, unknown>
  for (const name of ['sub', 'jti', 'client_id'] as const) {
    if (typeof claims[name] !== 'string' || claims[name] === '') {
      throw invalidToken(`the token's ${name} claim must be a non-empty string`)
    }
  }
  const iat = claims.iat as number
  // Ensure the token was not issued in the future (beyond the tolerance).
  if (iat > options.clock() / 1000 + options.clockToleranceSeconds) {
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
  // Ensure a delegation chain is well formed before anyone reads it.
  if (claims.act !== undefined) checkActClaim(claims.act)
  if (claims.parent_grant !== undefined && (typeof claims.parent_grant !== 'string' || claims.parent_grant === '')) {
    throw invalidToken('the token\'s parent_grant claim must be a non-empty string')
  }
  checkAncestorGrants(claims.ancestor_grants, claims.parent_grant as string | undefined)
  return deepFreeze(claims as AccessTokenClaims)
}
