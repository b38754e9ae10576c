import { invalidRequest, WritError } from '../errors.js'
import { parseAuthorizationDetails, parseManifestObject } from '../manifest/index.js'
import type { Manifest } from '../manifest/types.js'

const formNames: Array<[RegExp, string]> = [
  [/(^|; )task\.id:/g, '$1task_id:'],
  [/(^|; )task\.purpose:/g, '$1task_purpose:'],
  [/(^|; )task\.requested_by:/g, '$1requested_by:'],
]

/**
 * Builds a task manifest from `/oauth/token` form parameters: `authorization_details` (a JSON
 * array, RFC 9396), `task_id`, `task_purpose`, `requested_by`, `ttl`. Errors name form fields.
 */
export function manifestFromTokenParams(params: Record<string, string>, maxGrants: number): Manifest {
  // Ensure the request cannot mix OAuth scopes into a task-scoped grant.
  if (params.scope !== undefined) {
    throw new WritError('invalid_scope', 400, 'scope is not used by writ; describe access with authorization_details')
  }
  if (params.authorization_details === undefined) {
    throw invalidRequest('authorization_details: required (a JSON array of RFC 9396 objects)')
  }
  if (!params.task_id) throw invalidRequest('task_id: required')
  const grants = parseAuthorizationDetails(params.authorization_details, { maxGrants })
  const raw = {
    task: {
      id: params.task_id,
      ...(params.task_purpose !== undefined ? { purpose: params.task_purpose } : {}),
      ...(params.requested_by !== undefined ? { requested_by: params.requested_by } : {}),
    },
    ...(params.ttl !== undefined ? { ttl: /^\d+$/.test(params.ttl) ? Number(params.ttl) : params.ttl } : {}),
    grants,
  }
  try {
    return parseManifestObject(raw, { maxGrants })
  } catch (err) {
    if (!(err instanceof WritError)) throw err
    const message = formNames.reduce((m, [re, name]) => m.replace(re, name), err.message)
    throw new WritError(err.code, err.status, message)
  }
}
