import { globMatch } from '../glob/glob.js'
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
     * Where the resource lives, e.g. `https://git.example.com/acme/app`. When given, the grant
     * must list a location (a glob) that matches it.
     */
    location?: string
    /**
     * Which resource, e.g. `docs/guide.md`. Matched against the grant's `identifier` glob (`*`
     * within a segment, `**` across). Normalise it first; `.` and `..` segments are refused.
     */
    identifier?: string
  }
}

/** Whether the identifier has a `.` or `..` path segment. */
const hasDotSegment = (identifier: string): boolean =>
  identifier.split('/').some((segment) => segment === '.' || segment === '..')

/** Whether one authorization details object covers the request. */
function covers(detail: AuthorizationDetail, request: AuthorizeRequest): boolean {
  if (!detail || typeof detail !== 'object' || detail.type !== request.type) return false
  if (!Array.isArray(detail.actions) || !detail.actions.includes(request.action)) return false
  const { location, identifier } = request.resource ?? {}
  if (location !== undefined) {
    // Ensure a location-bound request is only covered by a grant for that location.
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
 * the request's `type`, lists its `action`, lists a location matching the resource's (when one is
 * given), and has an `identifier` glob matching the resource's identifier (a grant without an
 * identifier covers every resource at its locations). This makes a task-scoped token mean the
 * same at the resource server as in the manifest.
 *
 * @returns the first grant that covers the request.
 * @throws VerifierError `insufficient_scope` (403) when none does.
 *
 * @example
 * ```ts
 * const claims = await verifier.verifyRequest(request)
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
): AuthorizationDetail {
  const scheme = claims.cnf ? 'DPoP' : 'Bearer'
  const identifier = request.resource?.identifier
  // Ensure `docs/../src/x` cannot pass as something under `docs/**`.
  if (identifier !== undefined && hasDotSegment(identifier)) {
    const message = 'the resource identifier must not contain . or .. segments'
    throw new VerifierError('insufficient_scope', message, { scheme })
  }
  const details = Array.isArray(claims.authorization_details) ? claims.authorization_details : []
  const match = details.find((detail) => covers(detail, request))
  if (match) return match
  const where = [request.resource?.location, identifier].filter((p) => p !== undefined).join(' ')
  throw new VerifierError(
    'insufficient_scope',
    `the token does not allow ${request.type} ${request.action}${where ? ` on ${where}` : ''}`,
    { scheme },
  )
}
