import { invalidRequest } from '../errors.js'
import { parseAuthorizationDetails, parseResourceIndicators } from '../manifest/index.js'
import type { AuthorizationDetail } from '../manifest/types.js'
import { expandScopes, type Policy } from '../policy/index.js'

/** The request parameters that say what is asked for, as they arrived. */
export interface GrantParams {
  /** RFC 9396 `authorization_details` (a JSON array), if sent. */
  authorization_details?: string | undefined
  /** RFC 6749 §3.3 `scope`, if sent: names the policy's `scopes:` section defines. */
  scope?: string | undefined
  /** RFC 8707 `resource` values, in order (the parameter may repeat). */
  resource: readonly string[]
}

/** What a request asks for: the grants, the resources the token is for, the scope names. */
export interface RequestedGrants {
  /** The explicit `authorization_details` first, then what the scopes expand to. */
  grants: AuthorizationDetail[]
  /** Absent from the request: empty (the audience is then the grants' locations). */
  resources: string[]
  /** The scope names asked for (the token's `scope`); absent when the request named none. */
  scopes?: string[]
}

/**
 * The one place an authorization request's grants come from: RFC 9396 `authorization_details`
 * (as the authorization endpoint takes them, RFC 9396 §3) and the policy's expansion of an OAuth
 * `scope` (the same expansion the token endpoint uses, `expandScopes`), with RFC 8707 `resource`
 * indicators parsed as every endpoint parses them (`parseResourceIndicators`). Whether each
 * resource is covered is the policy decision's to say (`decide`, with the manifest's resources).
 *
 * @throws WritError `invalid_request` / `invalid_authorization_details` / `invalid_scope` /
 *   `invalid_target` (400), each naming the parameter.
 */
export function requestedGrants(
  params: GrantParams,
  options: { maxGrants: number; policy: Policy },
): RequestedGrants {
  if (params.authorization_details === undefined && params.scope === undefined) {
    throw invalidRequest('authorization_details or scope: required (RFC 9396 objects, or scope names the policy defines)')
  }
  const resources = parseResourceIndicators(params.resource, 'resource')
  const details =
    params.authorization_details === undefined
      ? []
      : parseAuthorizationDetails(params.authorization_details, { maxGrants: options.maxGrants })
  if (params.scope === undefined) return { grants: details, resources }
  const expanded = expandScopes(options.policy, { scope: params.scope, resources })
  const grants = [...details, ...expanded.grants]
  if (grants.length > options.maxGrants) {
    throw invalidRequest(`scope: the request would hold ${grants.length} grants; at most ${options.maxGrants}`)
  }
  return { grants, resources, scopes: expanded.scopes }
}
