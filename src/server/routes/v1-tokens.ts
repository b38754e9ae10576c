import type { Context } from 'hono'
import { issueGrant } from '../../grants/issue-grant.js'
import { parseManifest } from '../../manifest/index.js'
import type { AppDeps } from '../deps.js'
import { readBody } from '../body.js'
import { mediaType } from '../form.js'
import { tokenResponse } from '../token-response.js'

/**
 * `POST /v1/tokens`: the native route. The body is the task manifest itself, JSON or YAML; the
 * client authenticates with HTTP Basic (client_secret_basic).
 */
export function v1TokensRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    // Ensure the caller is a registered client before the body is even parsed.
    const { clientId } = await deps.clients.authenticate({
      authorization: c.req.header('authorization'),
      params: {},
    })
    const type = mediaType(c)
    const manifest = parseManifest(await readBody(c, deps.config.limits.bodyBytes), {
      ...(type ? { contentType: type } : {}),
      maxGrants: deps.config.limits.grants,
    })
    const response = await issueGrant(deps.issue, { clientId, manifest })
    return tokenResponse(c, response)
  }
}
