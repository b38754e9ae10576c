/**
 * One RFC 9396 authorization details object, as a writ token carries it: the grant's `type`,
 * `actions`, and optionally `locations` and `identifier` (globs: `*` within a path segment, `**`
 * across segments). Type-specific members are kept.
 *
 * @example
 * ```ts
 * const grant: AuthorizationDetail = { type: 'repo', actions: ['read'], identifier: 'docs/**' }
 * ```
 */
export interface AuthorizationDetail {
  type: string
  actions?: string[]
  locations?: string[]
  identifier?: string
  [member: string]: unknown
}

/**
 * The task a token was issued for.
 *
 * @example
 * ```ts
 * logger.info('request', { task: claims.task?.id, purpose: claims.task?.purpose })
 * ```
 */
export interface TokenTask {
  id: string
  purpose?: string
  requested_by?: string
}

/**
 * RFC 8693 §4.1 `act`: the current actor, with the actors before it nested inside.
 *
 * @example
 * ```ts
 * const act: ActorClaim = { sub: 'sub-agent', act: { sub: 'worker' } }
 * ```
 */
export interface ActorClaim {
  sub: string
  act?: ActorClaim
}

/**
 * The claims of a verified writ access token (RFC 9068). Every member listed as required has been
 * checked for presence and type; `cnf.jkt` is present exactly when the token is DPoP-bound.
 *
 * @example
 * ```ts
 * const claims: AccessTokenClaims = await verifier.verifyRequest(request)
 * console.log(claims.client_id, claims.jti, claims.task?.id)
 * ```
 */
export interface AccessTokenClaims {
  iss: string
  /** The client the token was issued to; for a delegated token, the chain's subject. */
  sub: string
  aud: string | string[]
  exp: number
  iat: number
  nbf?: number
  /** The grant id: revoking the grant kills the token. */
  jti: string
  client_id: string
  scope?: string
  authorization_details?: AuthorizationDetail[]
  task?: TokenTask
  /** RFC 9449 §6: the RFC 7638 thumbprint of the key every DPoP proof must be signed with. */
  cnf?: { jkt: string }
  /** Present when a human approved the request. */
  approval?: {
    id: string
    manifest_sha256: string
    approvers: Array<{ sub: string; aaguid: string; at: number }>
  }
  /** Present on a delegated token (token exchange): the current actor outermost (RFC 8693 §4.1). */
  act?: ActorClaim
  /** Present on a delegated token: the grant (`jti`) it was delegated from. */
  parent_grant?: string
  /**
   * Present on a delegated token: every grant above it, root first, the parent last. The token is
   * live only while each of them is (the `redis` liveness check looks them all up).
   */
  ancestor_grants?: Array<{ client_id: string; grant_id: string }>
  [claim: string]: unknown
}
