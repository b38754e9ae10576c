import { invalidRequest, WritError } from '../errors.js'
import { parseAuthorizationDetails, parseTask } from '../manifest/index.js'
import type { AuthorizationDetail, Manifest } from '../manifest/types.js'

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
 * Builds a task manifest from `/oauth/token` form parameters: `authorization_details` (a JSON
 * array, RFC 9396), `task_id`, `task_purpose`, `requested_by`, `ttl`. Errors name form fields.
 */
export function manifestFromTokenParams(
  params: Record<string, string>,
  maxGrants: number,
  cache: AuthorizationDetailsCache,
): Manifest {
  // Ensure the request cannot mix OAuth scopes into a task-scoped grant.
  if (params.scope !== undefined) {
    throw new WritError('invalid_scope', 400, 'scope is not used by writ; describe access with authorization_details')
  }
  if (params.authorization_details === undefined) {
    throw invalidRequest('authorization_details: required (a JSON array of RFC 9396 objects)')
  }
  if (!params.task_id) throw invalidRequest('task_id: required')
  const grants = cache.parse(params.authorization_details, maxGrants)
  const head = {
    task: {
      id: params.task_id,
      ...(params.task_purpose !== undefined ? { purpose: params.task_purpose } : {}),
      ...(params.requested_by !== undefined ? { requested_by: params.requested_by } : {}),
    },
    ...(params.ttl !== undefined ? { ttl: params.ttl } : {}),
  }
  try {
    return { ...parseTask(head), grants }
  } catch (err) {
    if (!(err instanceof WritError)) throw err
    const message = formNames.reduce((m, [re, name]) => m.replace(re, name), err.message)
    throw new WritError(err.code, err.status, message)
  }
}
