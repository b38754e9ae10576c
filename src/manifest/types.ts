/**
 * One RFC 9396 authorization_details object, as a manifest grant. `type` is required by RFC 9396;
 * `actions`, `locations` and `identifier` are its common data fields. Other fields a type defines
 * (for example `role_arn` for `aws`) are kept as given and are part of the manifest hash.
 */
export interface AuthorizationDetail {
  type: string
  actions?: string[]
  locations?: string[]
  identifier?: string
  [field: string]: unknown
}

export interface TaskInfo {
  id: string
  purpose?: string
  requested_by?: string
}

/**
 * A validated task manifest. `ttlSeconds` is the requested life, already parsed from `ttl`.
 * `resources` are RFC 8707 resource indicators (absolute URIs, in request order, no duplicates):
 * when present they are the token's `aud`. `scopes` are the policy scope names the grants were
 * (partly) expanded from: when present they are the token's `scope`. Both are part of the manifest
 * hash when present, so an approval binds them.
 */
export interface Manifest {
  task: TaskInfo
  ttlSeconds?: number
  grants: AuthorizationDetail[]
  resources?: string[]
  scopes?: string[]
}
