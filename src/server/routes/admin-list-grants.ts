import type { Context } from 'hono'
import { z } from 'zod'
import { invalidRequest } from '../../errors.js'
import { formatIssues, friendlyErrors } from '../../validation.js'
import type { AppDeps } from '../deps.js'
import { grantSummary } from './admin-views.js'

const querySchema = z
  .object({
    client: z.string().min(1).max(256).optional(),
    task: z.string().min(1).max(128).optional(),
    limit: z
      .string()
      .regex(/^[0-9]{1,4}$/, 'expected a whole number from 1 to 1000')
      .transform(Number)
      .pipe(z.number().int().min(1).max(1000))
      .optional(),
  })
  .strict()

/** Grants shown when the request names no `limit`. */
const DEFAULT_LIMIT = 100

/**
 * `GET /admin/grants?client=&task=&limit=`: live grants, oldest first, of one client or of every
 * client with live grants (whether or not the policy in force declares it), optionally of one
 * task. At most `limit` (default 100, at most 1000) are shown; `total` says how many there are.
 */
export function adminListGrantsRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const query: Record<string, string> = {}
    for (const [name, values] of Object.entries(c.req.queries())) {
      // Ensure no parameter is repeated: a second value could slip past the first one's check.
      if (values.length > 1) throw invalidRequest(`${name}: must not be repeated`)
      query[name] = values[0]!
    }
    const parsed = querySchema.safeParse(query, { error: friendlyErrors })
    if (!parsed.success) throw invalidRequest(formatIssues(parsed.error.issues).join('; '))
    const { client, task } = parsed.data
    const limit = parsed.data.limit ?? DEFAULT_LIMIT
    // Ensure every live grant is listed, also of clients the policy in force no longer declares.
    const grants = await deps.store.listGrants({
      ...(client === undefined ? {} : { clientId: client }),
      ...(task === undefined ? {} : { taskId: task }),
    })
    return c.json(
      {
        grants: grants.slice(0, limit).map(grantSummary),
        total: grants.length,
        truncated: grants.length > limit,
      },
      200,
      { 'Cache-Control': 'no-store' },
    )
  }
}
