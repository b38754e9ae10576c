import { WritError } from '../errors.js'
import type { AuthorizationDetail } from '../manifest/types.js'
import type { Policy } from './types.js'

/** RFC 6749 §3.3 scope-token characters: %x21 / %x23-5B / %x5D-7E. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/

/** Most scope names one request may carry. */
const MAX_SCOPES = 32

export interface ExpandScopesInput {
  /** The `scope` parameter as sent: scope names separated by spaces (RFC 6749 §3.3). */
  scope: string
  /** The request's RFC 8707 resource indicators: the locations of templates that name none. */
  resources?: readonly string[]
}

export interface ExpandedScopes {
  /** The scope names, in request order, without duplicates (the token's `scope`). */
  scopes: string[]
  /** The grants the scopes expand to, in scope order then template order. */
  grants: AuthorizationDetail[]
}

/**
 * Expands an OAuth `scope` into authorization_details with the policy's `scopes:` section. Each
 * scope's templates are copied; a template without `locations` gets the request's resources as
 * its locations. The grants are then decided like any other (rules, approval, TTL caps): a scope
 * never grants by itself.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.3
 * @throws WritError `invalid_scope` (400) for an empty or malformed scope or a name the policy does
 *   not define (`scope: unknown scope "mcp:github:admin"`); `invalid_target` (400) when a template
 *   needs the request's resource and there is none.
 *
 * @example
 * expandScopes(policy, { scope: 'mcp:github:read', resources: ['https://mcp.example.com/mcp'] })
 * // { scopes: ['mcp:github:read'], grants: [{ type: 'mcp', actions: ['tools/call'],
 * //   identifier: 'get_*', locations: ['https://mcp.example.com/mcp'] }] }
 */
export function expandScopes(policy: Policy, input: ExpandScopesInput): ExpandedScopes {
  // RFC 6749 §3.3: scope tokens separated by single spaces; be lenient about repeated spaces only.
  const names = input.scope.split(' ').filter((name) => name !== '')
  if (names.length === 0) throw new WritError('invalid_scope', 400, 'scope: expected at least one scope name')
  if (names.length > MAX_SCOPES) {
    throw new WritError('invalid_scope', 400, `scope: at most ${MAX_SCOPES} scope names (got ${names.length})`)
  }
  const scopes: string[] = []
  const grants: AuthorizationDetail[] = []
  for (const name of names) {
    // Ensure each name is a scope token (no control characters, quotes or backslashes).
    if (!SCOPE_TOKEN.test(name)) {
      const shown = JSON.stringify(name.slice(0, 128))
      throw new WritError('invalid_scope', 400, `scope: ${shown} is not a valid scope name`)
    }
    if (scopes.includes(name)) continue
    const defined = policy.scopes.get(name)
    // Ensure only scopes the policy defines are granted; an unknown one is refused, not dropped.
    if (!defined) {
      throw new WritError('invalid_scope', 400, `scope: unknown scope ${JSON.stringify(name.slice(0, 128))}`)
    }
    scopes.push(name)
    for (const template of defined.grants) {
      const grant: AuthorizationDetail = structuredClone(template)
      if (template.locations === undefined) {
        // Ensure a template that names no server is bound to the one the client named.
        if (!input.resources || input.resources.length === 0) {
          throw new WritError(
            'invalid_target',
            400,
            `resource: required for scope ${name} (its grants take their locations from the resource parameter)`,
          )
        }
        grant.locations = [...input.resources]
      }
      grants.push(grant)
    }
  }
  return { scopes, grants }
}
