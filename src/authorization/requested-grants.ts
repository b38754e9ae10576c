import { WritError, invalidRequest } from '../errors.js'
import { parseAuthorizationDetails } from '../manifest/index.js'
import type { AuthorizationDetail } from '../manifest/types.js'
import { globMatch } from '../wire/glob.js'

/** The request parameters that say what is asked for, as they arrived. */
export interface GrantParams {
  /** RFC 9396 `authorization_details` (a JSON array), if sent. */
  authorization_details?: string | undefined
  /** RFC 6749 §3.3 `scope`, if sent. */
  scope?: string | undefined
  /** RFC 8707 `resource` values, in order (the parameter may repeat). */
  resource: readonly string[]
}

/** What a request asks for: the grants, and the resources the token is for (its audience). */
export interface RequestedGrants {
  grants: AuthorizationDetail[]
  /** Absent from the request: empty (the audience is then the grants' locations). */
  resources: string[]
}

/** Most `resource` values one request may name. */
const MAX_RESOURCES = 10

/**
 * The one place an authorization request's grants come from: RFC 9396 `authorization_details`
 * (as the authorization endpoint takes them, RFC 9396 §3), plus RFC 8707 `resource` indicators,
 * each an absolute URI without fragment (§2) that a granted location covers, else
 * `invalid_target` naming it.
 *
 * `scope` is refused (`invalid_scope`) until the policy can name scopes: the grants a scope stands
 * for must come from the policy, never be guessed.
 *
 * @throws WritError `invalid_request` / `invalid_authorization_details` / `invalid_scope` /
 *   `invalid_target` (400), each naming the parameter.
 */
export function requestedGrants(params: GrantParams, options: { maxGrants: number }): RequestedGrants {
  if (params.scope !== undefined) {
    throw new WritError(
      'invalid_scope',
      400,
      'scope: this broker defines no scopes; ask with authorization_details (RFC 9396)',
    )
  }
  if (params.authorization_details === undefined) {
    throw invalidRequest('authorization_details: required (a JSON array of RFC 9396 objects)')
  }
  const grants = parseAuthorizationDetails(params.authorization_details, { maxGrants: options.maxGrants })
  if (params.resource.length > MAX_RESOURCES) {
    throw new WritError('invalid_target', 400, `resource: at most ${MAX_RESOURCES} values`)
  }
  const resources: string[] = []
  for (const [i, resource] of params.resource.entries()) {
    const at = `resource[${i}] (${JSON.stringify(resource.slice(0, 200))})`
    let url: URL
    try {
      url = new URL(resource)
    } catch {
      throw new WritError('invalid_target', 400, `${at}: expected an absolute URI (RFC 8707 §2)`)
    }
    if (resource.includes('#')) throw new WritError('invalid_target', 400, `${at}: must not contain a fragment (RFC 8707 §2)`)
    if (url.username !== '' || url.password !== '') {
      throw new WritError('invalid_target', 400, `${at}: must not contain user information`)
    }
    // Ensure the token's audience is a resource the grants are for, never a bystander.
    if (!grants.some((g) => g.locations?.some((location) => globMatch(location, resource)))) {
      throw new WritError('invalid_target', 400, `${at}: no granted location covers it`)
    }
    if (!resources.includes(resource)) resources.push(resource)
  }
  return { grants, resources }
}
