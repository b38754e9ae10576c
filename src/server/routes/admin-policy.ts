import type { Context } from 'hono'
import { z } from 'zod'
import { WritError } from '../../errors.js'
import { PolicyError } from '../../policy/index.js'
import { formatIssues, friendlyErrors } from '../../validation.js'
import type { AppDeps } from '../deps.js'
import { readJsonObject } from '../json-body.js'

const bodySchema = z.object({ policy: z.string().min(1, { error: 'required: the policy text (YAML)' }) }).strict()

/**
 * `POST /admin/policy` `{ policy }`: `writ policy apply`. On a broker whose policy lives in the
 * store (`policySource: store`), validates the text with every problem listed (400, `problems`),
 * stores it sealed as the next generation, puts it in force here at once and answers its hash;
 * every other replica follows within 2 s. On a broker reading its policy from a file, 409: edit
 * the file and send SIGHUP. The body is limited like every other (`limits.bodyBytes`). Audited as
 * `policy.changed` (actor `admin`).
 */
export function adminApplyPolicyRoute(deps: AppDeps) {
  return async (c: Context): Promise<Response> => {
    const body = await readJsonObject(c, deps.config.limits.bodyBytes)
    const apply = deps.applyPolicy
    if (!apply) {
      throw new WritError(
        'invalid_request',
        409,
        'this broker reads its policy from a file (policySource: file): change the file and send SIGHUP, or run every replica with WRIT_POLICY_SOURCE=store',
      )
    }
    const parsed = bodySchema.safeParse(body, { error: friendlyErrors })
    if (!parsed.success) {
      throw new WritError('invalid_request', 400, formatIssues(parsed.error.issues).join('; '))
    }
    let applied
    try {
      applied = await apply(parsed.data.policy, 'admin')
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err
      // Ensure every problem is named at once, and nothing was stored or changed.
      return c.json(
        { error: 'invalid_request', error_description: err.message, problems: err.problems },
        400,
        { 'Cache-Control': 'no-store' },
      )
    }
    return c.json(
      { hash: applied.hash, previous_hash: applied.previousHash, generation: applied.generation },
      200,
      { 'Cache-Control': 'no-store' },
    )
  }
}
