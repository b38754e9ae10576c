import type { Context } from 'hono'
import { invalidRequest } from '../../errors.js'
import { describeJsonSyntaxError } from '../../manifest/describe-json-syntax-error.js'
import { readBody } from '../body.js'
import type { AppDeps } from '../deps.js'
import { mediaType } from '../form.js'

/**
 * Reads the JSON body of a ceremony request. Ensure it is `application/json`: a cross-site HTML
 * form cannot send that type without a CORS preflight, which the broker never grants, so no other
 * site can drive a ceremony endpoint from an approver's browser.
 */
export async function readCeremonyJson(c: Context, deps: AppDeps): Promise<unknown> {
  const type = mediaType(c)
  if (type !== 'application/json') {
    throw invalidRequest(`content-type must be application/json${type ? ` (got ${type})` : ''}`)
  }
  const text = await readBody(c, deps.config.limits.bodyBytes)
  try {
    return JSON.parse(text)
  } catch {
    throw invalidRequest(`body: ${describeJsonSyntaxError(text)}`)
  }
}
