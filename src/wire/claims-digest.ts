import { createHash } from 'node:crypto'

/**
 * Part of the wire contract (`src/wire/`). The digest that ties an access token to its grant: base64url(SHA-256(the token's JWS payload
 * segment)), the base64url text between the token's two dots, hashed as ASCII. The broker records
 * it with the grant (`claims_sha256` of the grant's record and `grant.issued` event) before it
 * signs the token; liveness (the verifier's `redis` mode, `/oauth/introspect`) accepts a token
 * only when its own digest is the recorded one.
 *
 * It covers every claim, in exactly the form the token carries them: `iss`, `sub`, `aud`, `exp`,
 * `iat`, `jti`, `client_id`, `scope`, `authorization_details`, `task`, `cnf` and `approval`, and
 * any claim added later. Changing, adding or removing any claim (or only re-encoding the JSON)
 * changes the digest. Nothing is re-serialized, so there is no canonical form to agree on: the
 * issued bytes are the form.
 *
 * @example
 * ```ts
 * const recorded = grant.claimsSha256 // claimsSha256(payload), recorded before signing
 * ```
 */
export function claimsSha256(encodedPayload: string): string {
  return createHash('sha256').update(encodedPayload, 'ascii').digest('base64url')
}

/**
 * {@link claimsSha256} of a compact JWS: of the text between its first and last dot.
 *
 * @example
 * ```ts
 * if (tokenClaimsSha256(token) !== grant.claimsSha256) return { active: false }
 * ```
 */
export function tokenClaimsSha256(token: string): string {
  return claimsSha256(token.slice(token.indexOf('.') + 1, token.lastIndexOf('.')))
}
