import { WritError } from '../errors.js'
import { formatIssues, friendlyErrors } from '../validation.js'
import { describeJsonSyntaxError } from './describe-json-syntax-error.js'
import { findJsonProblems } from './json-problems.js'
import { joinProblems } from './join-problems.js'
import { DEFAULT_MAX_GRANTS, authorizationDetailsSchema } from './schema.js'
import type { AuthorizationDetail } from './types.js'

const FIELD = 'authorization_details'

const invalidDetails = (message: string): WritError =>
  new WritError('invalid_authorization_details', 400, message)

/**
 * Parses the OAuth `authorization_details` request parameter (RFC 9396 §2): a JSON array of
 * authorization details objects, each validated like a manifest grant.
 *
 * @throws WritError `invalid_authorization_details` (400) for malformed JSON or, listing every
 *   problem at once, invalid entries:
 *   `authorization_details[1].actions: expected an array of strings`.
 */
export function parseAuthorizationDetails(
  param: string,
  options: { maxGrants?: number } = {},
): AuthorizationDetail[] {
  let value: unknown
  try {
    value = JSON.parse(param)
  } catch {
    throw invalidDetails(`${FIELD} is not valid JSON: ${describeJsonSyntaxError(param)}`)
  }
  // Ensure plain JSON data without prototype-reaching names before zod copies it.
  const problems = findJsonProblems(value, [FIELD])
  const max = options.maxGrants ?? DEFAULT_MAX_GRANTS
  const result = authorizationDetailsSchema(max, 'entries').safeParse(value, {
    error: friendlyErrors,
  })
  if (!result.success) {
    const issues = result.error.issues.map((issue) => ({ ...issue, path: [FIELD, ...issue.path] }))
    problems.push(...formatIssues(issues))
  }
  if (problems.length > 0 || !result.success) {
    throw invalidDetails(joinProblems(problems, `${FIELD}: invalid`))
  }
  return result.data as AuthorizationDetail[]
}
