import { invalidRequest, WritError } from '../errors.js'
import { parseAuthorizationDetails, parseResourceIndicators, parseTask } from '../manifest/index.js'
import type { AuthorizationDetail, Manifest } from '../manifest/types.js'
import { type ExpandedScopes, expandScopes, type Policy } from '../policy/index.js'
import { randomId } from '../random-id.js'

const formNames: Array<[RegExp, string]> = [
  [/(^|; )task\.id:/g, '$1task_id:'],
  [/(^|; )task\.purpose:/g, '$1task_purpose:'],
  [/(^|; )task\.requested_by:/g, '$1requested_by:'],
]

/** Parameters longer than this are parsed every time rather than remembered. */
const CACHEABLE_BYTES = 8 * 1024

/**
 * Remembers validated `authorization_details` by their exact text. Parsing is a pure function of
 * that text, and an agent runtime sends the same grants again and again, so steady issuance skips
 * JSON parsing and schema validation. Bounded; entries are deep-frozen so no request can alter
 * what another one receives.
 */
export class AuthorizationDetailsCache {
  readonly #entries = new Map<string, AuthorizationDetail[]>()
  constructor(readonly maxEntries = 1000) {}

  parse(param: string, maxGrants: number): AuthorizationDetail[] {
    const key = `${maxGrants}\0${param}`
    const hit = this.#entries.get(key)
    if (hit) return hit
    const grants = deepFreeze(parseAuthorizationDetails(param, { maxGrants }))
    if (param.length <= CACHEABLE_BYTES) {
      if (this.#entries.size >= this.maxEntries) {
        this.#entries.delete(this.#entries.keys().next().value!)
      }
      this.#entries.set(key, grants)
    }
    return grants
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const member of Object.values(value)) deepFreeze(member)
    Object.freeze(value)
  }
  return value
}

/**
 * Parameters writ does not implement whose silent omission would change what the caller expects
 * (a token for another audience, a request object honoured, a message shown to the approver, a
 * sender-constrained token). They are refused with a message naming them. Any other parameter
 * writ does not know is ignored, as RFC 6749 §3.2 requires.
 */
const REFUSED_PARAMS: ReadonlyMap<string, string> = new Map(Object.entries({
  audience: 'name the audience with resource (RFC 8707)',
  claims: 'writ issues no OpenID Connect claims',
  request: 'request objects (RFC 9101) are not supported',
  request_uri: 'request objects and pushed requests (RFC 9101, RFC 9126) are not supported',
  requested_token_type: 'writ issues access tokens only',
  subject_token: 'token exchange needs grant_type=urn:ietf:params:oauth:grant-type:token-exchange',
  actor_token: 'token exchange needs grant_type=urn:ietf:params:oauth:grant-type:token-exchange',
  dpop_jkt: 'bind the token by sending a DPoP header with the request (RFC 9449 §5)',
  binding_message: 'the approval page shows task_purpose; send it there',
  user_code: 'writ has no user codes',
  requested_expiry: 'approval requests expire as the broker is configured',
  login_hint: 'the approvers are named by the policy, not by the client',
  login_hint_token: 'the approvers are named by the policy, not by the client',
  id_token_hint: 'the approvers are named by the policy, not by the client',
  acr_values: 'approvals always need a security key with user verification',
  client_notification_token: 'only CIBA poll mode is supported',
}))

/** What the token endpoint needs besides the form to build a manifest from OAuth parameters. */
export interface OAuthManifestOptions {
  /** Expands `scope` (the policy's `scopes:`). Without it, every scope is unknown. */
  policy?: Policy
  /** The `resource` parameter's values (it may repeat, RFC 8707 §2). */
  resources?: readonly string[]
}

/**
 * Builds a task manifest from `/oauth/token` form parameters: `authorization_details` (a JSON
 * array, RFC 9396) and/or `scope` (names the policy expands to grants), `resource` (RFC 8707,
 * the token's audience), `task_id` (required unless `scope` is sent: then a task id is
 * generated), `task_purpose`, `requested_by`, `ttl`. With both `authorization_details` and
 * `scope`, the grants are both sets (RFC 9396 §3.1), the details first. Errors name form fields.
 */
export function manifestFromTokenParams(
  params: Record<string, string>,
  maxGrants: number,
  cache: AuthorizationDetailsCache,
  oauth: OAuthManifestOptions = {},
): Manifest {
  for (const name of Object.keys(params)) {
    const why = REFUSED_PARAMS.get(name)
    // Ensure a parameter the caller relies on is refused, never silently dropped.
    if (why !== undefined) throw invalidRequest(`${name}: not supported: ${why}`)
  }
  // Ensure every audience is an absolute URI without fragment before anything else reads it.
  const resources =
    oauth.resources && oauth.resources.length > 0 ? parseResourceIndicators(oauth.resources, 'resource') : undefined
  let expanded: ExpandedScopes | undefined
  if (params.scope !== undefined) {
    if (!oauth.policy) throw new WritError('invalid_scope', 400, 'scope: no scopes are defined here')
    expanded = expandScopes(oauth.policy, { scope: params.scope, ...(resources ? { resources } : {}) })
  }
  if (params.authorization_details === undefined && !expanded) {
    throw invalidRequest(
      'authorization_details: required (a JSON array of RFC 9396 objects), or scope (names the policy defines)',
    )
  }
  if (!expanded && !params.task_id) throw invalidRequest('task_id: required')
  const details = params.authorization_details === undefined ? [] : cache.parse(params.authorization_details, maxGrants)
  const grants = expanded ? [...details, ...expanded.grants] : details
  if (grants.length > maxGrants) {
    throw invalidRequest(`scope: expands to ${grants.length} grants with authorization_details; at most ${maxGrants}`)
  }
  const head = {
    task: {
      // A scope-only OAuth client knows nothing of tasks: the grant gets a generated task id.
      id: params.task_id || `oauth-${randomId()}`,
      ...(params.task_purpose !== undefined ? { purpose: params.task_purpose } : {}),
      ...(params.requested_by !== undefined ? { requested_by: params.requested_by } : {}),
    },
    ...(params.ttl !== undefined ? { ttl: params.ttl } : {}),
  }
  try {
    return {
      ...parseTask(head),
      grants,
      ...(resources ? { resources } : {}),
      ...(expanded ? { scopes: expanded.scopes } : {}),
    }
  } catch (err) {
    if (!(err instanceof WritError)) throw err
    const message = formNames.reduce((m, [re, name]) => m.replace(re, name), err.message)
    throw new WritError(err.code, err.status, message)
  }
}
