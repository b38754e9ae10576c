/**
 * Stable codes of {@link VerifierError}. Callers `switch (err.code)`, never on the message.
 *
 * - `invalid_request`: the request is malformed (two `Authorization` headers, a bad scheme).
 * - `invalid_token`: no token, a bad signature, a disallowed algorithm or header, a wrong `typ`,
 *   a missing claim, a token not valid yet, an unknown signing key, a token whose claims are not
 *   the ones issued for its grant (`redis` liveness).
 * - `token_expired`: `exp` has passed (beyond the clock tolerance).
 * - `token_revoked`: the token's grant is not live any more (revoked, or gone from the store).
 * - `audience_mismatch`, `issuer_mismatch`: the token was issued for another service, or by
 *   another issuer.
 * - `insufficient_scope`: the token is valid but none of its grants covers the request.
 * - `invalid_dpop_proof`: a DPoP-bound token without a valid proof (RFC 9449).
 * - `use_dpop_nonce`: the proof must carry the server nonce sent in the `DPoP-Nonce` header.
 * - `liveness_unavailable`: the grant store (or introspection endpoint) cannot be asked whether
 *   the grant is live; the request is refused (fail closed), retry later.
 *
 * @example
 * ```ts
 * if (err instanceof VerifierError && err.code === 'token_revoked') audit('revoked token used')
 * ```
 */
export type VerifierErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'token_expired'
  | 'token_revoked'
  | 'audience_mismatch'
  | 'issuer_mismatch'
  | 'insufficient_scope'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'liveness_unavailable'

/**
 * The authentication scheme a challenge names: RFC 6750 `Bearer` or RFC 9449 `DPoP`.
 *
 * @example
 * ```ts
 * const scheme: AuthScheme = claims.cnf ? 'DPoP' : 'Bearer'
 * ```
 */
export type AuthScheme = 'Bearer' | 'DPoP'

/**
 * The error codes RFC 6750 §3.1 and RFC 9449 §7.1 define for `WWW-Authenticate`.
 *
 * @example
 * ```ts
 * const error: ChallengeError | undefined = err.challengeError // 'invalid_token' for token_expired
 * ```
 */
export type ChallengeError =
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'

/**
 * Options of a {@link VerifierError}.
 *
 * @example
 * ```ts
 * new VerifierError('invalid_token', 'no token', { missingCredentials: true })
 * ```
 */
export interface VerifierErrorOptions {
  /** The scheme of the challenge; `DPoP` for DPoP-bound tokens and proof errors. */
  scheme?: AuthScheme
  /** The request carried no credentials: the challenge names no error (RFC 6750 §3.1). */
  missingCredentials?: boolean
  /** A fresh server nonce to send in `DPoP-Nonce` (with `use_dpop_nonce`). */
  dpopNonce?: string
  /**
   * With `insufficient_scope`: the scope a token needs for the request (RFC 6750 §3 `scope`), the
   * step-up hint MCP clients request a new token with.
   */
  scope?: string
  cause?: unknown
}

/**
 * What a challenge names besides the error.
 *
 * @example
 * ```ts
 * err.wwwAuthenticate({ realm: 'docs', dpopAlgorithms: ['ES256'] })
 * ```
 */
export interface ChallengeOptions {
  /** `realm` of the challenge. */
  realm?: string
  /** DPoP proof algorithms the server accepts, for the `DPoP` challenge's `algs`. */
  dpopAlgorithms?: readonly string[]
  /**
   * The URL of this resource's RFC 9728 Protected Resource Metadata, sent as `resource_metadata`
   * in every challenge (RFC 9728 §5.1) so a client can discover the authorization server.
   */
  resourceMetadata?: string
}

const STATUS: Record<VerifierErrorCode, 400 | 401 | 403 | 503> = {
  invalid_request: 400,
  invalid_token: 401,
  token_expired: 401,
  token_revoked: 401,
  audience_mismatch: 401,
  issuer_mismatch: 401,
  insufficient_scope: 403,
  invalid_dpop_proof: 401,
  use_dpop_nonce: 401,
  liveness_unavailable: 503,
}

const CHALLENGE_ERROR: Record<VerifierErrorCode, ChallengeError | undefined> = {
  invalid_request: 'invalid_request',
  invalid_token: 'invalid_token',
  token_expired: 'invalid_token',
  token_revoked: 'invalid_token',
  audience_mismatch: 'invalid_token',
  issuer_mismatch: 'invalid_token',
  insufficient_scope: 'insufficient_scope',
  invalid_dpop_proof: 'invalid_dpop_proof',
  use_dpop_nonce: 'use_dpop_nonce',
  liveness_unavailable: undefined,
}

/** Seconds a client should wait after `liveness_unavailable`. */
const RETRY_AFTER_SECONDS = 1

/** A quoted-string value: drops `"`, `\` and anything outside printable ASCII (RFC 6750 §3). */
const quoted = (value: string): string => `"${value.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '')}"`

/**
 * Why a token was refused, with a stable `code`, the HTTP `status` to answer, and the RFC 6750 /
 * RFC 9449 challenge to send. `message` is safe to show the caller: it never contains the token.
 *
 * @example
 * ```ts
 * try {
 *   const claims = await verifier.verifyRequest(request)
 * } catch (err) {
 *   if (err instanceof VerifierError) return err.toResponse()
 *   throw err
 * }
 * ```
 */
export class VerifierError extends Error {
  override readonly name = 'VerifierError'
  /** HTTP status: 400, 401, 403 or 503. */
  readonly status: 400 | 401 | 403 | 503
  readonly scheme: AuthScheme
  readonly missingCredentials: boolean
  readonly dpopNonce: string | undefined
  /** The scope the request needs, for an `insufficient_scope` challenge. */
  readonly scope: string | undefined

  constructor(
    readonly code: VerifierErrorCode,
    message: string,
    options: VerifierErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.status = STATUS[code]
    const dpop = code === 'invalid_dpop_proof' || code === 'use_dpop_nonce'
    this.scheme = options.scheme ?? (dpop ? 'DPoP' : 'Bearer')
    this.missingCredentials = options.missingCredentials === true
    this.dpopNonce = options.dpopNonce
    this.scope = options.scope
  }

  /** The RFC 6750 / RFC 9449 error code for the challenge (undefined for 503). */
  get challengeError(): ChallengeError | undefined {
    return CHALLENGE_ERROR[this.code]
  }

  /**
   * The `WWW-Authenticate` value: `Bearer realm="api", error="invalid_token",
   * error_description="..."`, or the `DPoP` scheme with `algs`. Undefined for a 503. A request
   * without credentials gets both challenges, without an error (RFC 6750 §3.1, RFC 9449 §7.1).
   *
   * @example
   * ```ts
   * new VerifierError('token_expired', 'the token has expired').wwwAuthenticate({ realm: 'api' })
   * // 'Bearer realm="api", error="invalid_token", error_description="the token has expired"'
   * ```
   */
  wwwAuthenticate(options: ChallengeOptions = {}): string | undefined {
    const error = this.challengeError
    if (error === undefined) return undefined
    const realm = [
      ...(options.realm === undefined ? [] : [`realm=${quoted(options.realm)}`]),
      ...(options.resourceMetadata === undefined
        ? []
        : [`resource_metadata=${quoted(options.resourceMetadata)}`]),
    ]
    const algs = options.dpopAlgorithms?.length
      ? [`algs=${quoted(options.dpopAlgorithms.join(' '))}`]
      : []
    if (this.missingCredentials) {
      const bearer = realm.length ? `Bearer ${realm.join(', ')}` : 'Bearer'
      const dpop = [...realm, ...algs]
      return `${bearer}, ${dpop.length ? `DPoP ${dpop.join(', ')}` : 'DPoP'}`
    }
    const params = [...realm, ...(this.scheme === 'DPoP' ? algs : [])]
    params.push(`error=${quoted(error)}`, `error_description=${quoted(this.message)}`)
    // RFC 6750 §3: the scope needed, with insufficient_scope (MCP's step-up hint).
    if (this.scope !== undefined && error === 'insufficient_scope') {
      params.push(`scope=${quoted(this.scope)}`)
    }
    return `${this.scheme} ${params.join(', ')}`
  }

  /**
   * The response a resource server sends: the status, `WWW-Authenticate` (or `Retry-After` for a
   * 503), `DPoP-Nonce` when one is due, and an RFC 6749-style JSON body.
   *
   * @example
   * ```ts
   * if (err instanceof VerifierError) return err.toResponse({ realm: 'docs' })
   * ```
   */
  toResponse(options: ChallengeOptions = {}): Response {
    const headers = new Headers({ 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
    const challenge = this.wwwAuthenticate(options)
    if (challenge !== undefined) headers.set('WWW-Authenticate', challenge)
    if (this.status === 503) headers.set('Retry-After', String(RETRY_AFTER_SECONDS))
    if (this.dpopNonce !== undefined) headers.set('DPoP-Nonce', this.dpopNonce)
    const body = {
      error: this.challengeError ?? 'temporarily_unavailable',
      error_description: this.message,
    }
    return new Response(JSON.stringify(body), { status: this.status, headers })
  }
}
