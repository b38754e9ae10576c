import { globMatch } from '../wire/glob.js'
import type { AccessTokenClaims, AuthorizationDetail } from './types.js'
import { VerifierError } from './verifier-error.js'

/**
 * What a request wants to do: an action of a grant type on a resource.
 *
 * @example
 * ```ts
 * const wanted: AuthorizeRequest = {
 *   type: 'repo',
 *   action: 'write',
 *   resource: { location: 'https://git.example.com/acme/app', identifier: 'docs/guide.md' },
 * }
 * ```
 */
export interface AuthorizeRequest {
  /** The authorization details type, e.g. `repo`. */
  type: string
  /** One action, e.g. `read`. */
  action: string
  resource?: {
    /**
     * Where the resource lives, e.g. `https://git.example.com/acme/app`: the grant must list a
     * location (a glob) that matches it. Left out, it is this service's audience (see
     * {@link AuthorizeOptions}), never "anywhere".
     */
    location?: string
    /**
     * Which resource, e.g. `docs/guide.md`. Matched against the grant's `identifier` glob (`*`
     * within a segment, `**` across). Normalise it first; `.` and `..` segments are refused.
     */
    identifier?: string
  }
}

/**
 * Where "here" is when a request names no location: this service's identifiers (the verifier's
 * configured `audience`).
 *
 * @example
 * ```ts
 * authorize(claims, { type: 'repo', action: 'write' }, { audience: 'https://git.example.com/acme/app' })
 * ```
 */
export interface AuthorizeOptions {
  /** This service's audience(s). Default: the token's `aud`, when it names exactly one. */
  audience?: string | readonly string[]
}

/** Whether the identifier has a `.` or `..` path segment. */
const hasDotSegment = (identifier: string): boolean =>
  identifier.split('/').some((segment) => segment === '.' || segment === '..')

/** The token's `aud` as a list. */
const audiencesOf = (claims: AccessTokenClaims): string[] =>
  (Array.isArray(claims.aud) ? claims.aud : [claims.aud]).filter(
    (a): a is string => typeof a === 'string',
  )

/**
 * The location a request without one is about: the one audience of this service the token was
 * issued for. Undefined when that is not a single location (the caller must then name it).
 */
function hereOf(claims: AccessTokenClaims, options: AuthorizeOptions): string | undefined {
  const tokenAudiences = audiencesOf(claims)
  const own = options.audience
  const candidates =
    own === undefined
      ? tokenAudiences
      : (typeof own === 'string' ? [own] : [...own]).filter((a) => tokenAudiences.includes(a))
  return candidates.length === 1 ? candidates[0] : undefined
}

/**
 * Whether one authorization details object covers the request at `location` (the request's own,
 * or this service's audience when it names none). `soleAudience`: the token was issued for one
 * location only.
 */
function covers(
  detail: AuthorizationDetail,
  request: AuthorizeRequest,
  location: string,
  soleAudience: boolean,
): boolean {
  if (!detail || typeof detail !== 'object' || detail.type !== request.type) return false
  if (!Array.isArray(detail.actions) || !detail.actions.includes(request.action)) return false
  const identifier = request.resource?.identifier
  const implicit = request.resource?.location === undefined
  // A grant naming no location was issued for the token's audience: it covers here only when the
  // token names no other place, and only when the caller did not ask about a named location.
  const unplaced = detail.locations === undefined && implicit && soleAudience
  if (!unplaced) {
    // Ensure a grant only covers a location it lists: a token for services A and B never lets
    // its grant on A authorize anything at B.
    if (!Array.isArray(detail.locations)) return false
    const matches = (pattern: unknown): boolean =>
      typeof pattern === 'string' && globMatch(pattern, location)
    if (!detail.locations.some(matches)) return false
  }
  if (detail.identifier !== undefined) {
    // Ensure a grant limited to some resources never covers the whole location, or another one.
    if (typeof detail.identifier !== 'string' || identifier === undefined) return false
    if (!globMatch(detail.identifier, identifier)) return false
  }
  return true
}

/**
 * Whether the token's `authorization_details` allow one action on one resource: some grant has
 * the request's `type`, lists its `action`, lists a location matching the resource's, and has an
 * `identifier` glob matching the resource's identifier (a grant without an identifier covers every
 * resource at its locations). This makes a task-scoped token mean the same at the resource server
 * as in the manifest.
 *
 * A request without `resource.location` is about this service: `options.audience` (the verifier
 * passes its configured audience), or the token's `aud` when it names one place. A token for
 * services A and B is then never enough for a write at B through its grant for A. When "here" is
 * not one location (several audiences in common), the request must name it. A grant without
 * `locations` covers only an unnamed location, and only in a token issued for one audience.
 *
 * @returns the first grant that covers the request.
 * @throws VerifierError `insufficient_scope` (403) when none does.
 *
 * @example
 * ```ts
 * const claims = await verifier.verifyRequest(request)
 * // Checked at this service's audience: verifier.authorize(claims, { type, action, resource })
 * authorize(claims, {
 *   type: 'repo',
 *   action: 'write',
 *   resource: { location: 'https://git.example.com/acme/app', identifier: 'docs/guide.md' },
 * })
 * ```
 */
export function authorize(
  claims: AccessTokenClaims,
  request: AuthorizeRequest,
  options: AuthorizeOptions = {},
): AuthorizationDetail {
  const scheme = claims.cnf ? 'DPoP' : 'Bearer'
  const identifier = request.resource?.identifier
  // Ensure `docs/../src/x` cannot pass as something under `docs/**`.
  if (identifier !== undefined && hasDotSegment(identifier)) {
    const message = 'the resource identifier must not contain . or .. segments'
    throw new VerifierError('insufficient_scope', message, { scheme })
  }
  const location = request.resource?.location ?? hereOf(claims, options)
  // Ensure a request never means "anywhere": without a single place to check, refuse.
  if (location === undefined) {
    const message =
      'the token names several audiences of this service: give resource.location to authorize'
    throw new VerifierError('insufficient_scope', message, { scheme })
  }
  const soleAudience = audiencesOf(claims).length === 1
  const details = Array.isArray(claims.authorization_details) ? claims.authorization_details : []
  const match = details.find((detail) => covers(detail, request, location, soleAudience))
  if (match) return match
  const where = [location, identifier].filter((p) => p !== undefined).join(' ')
  throw new VerifierError(
    'insufficient_scope',
    `the token does not allow ${request.type} ${request.action}${where ? ` on ${where}` : ''}`,
    { scheme },
  )
}
