import { WritError } from '../errors.js'
import { resourceNameProblem } from './resource-name-problem.js'

/** Most resource indicators one request may name (each becomes an `aud` value). */
export const MAX_RESOURCES = 32

// An RFC 3986 §4.3 absolute URI starts with a scheme and a colon.
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/

const invalidTarget = (message: string): WritError => new WritError('invalid_target', 400, message)

/**
 * Validates RFC 8707 resource indicators and returns them in request order without duplicates.
 * Each must be an absolute URI (RFC 8707 §2, RFC 3986 §4.3) without a fragment; writ also refuses
 * a query (RFC 8707 §2: SHOULD NOT), glob characters (an audience is one exact URI) and anything
 * that could mean more than it shows (see `resourceNameProblem`), because the value is matched
 * against grant locations and becomes the token's `aud`.
 *
 * `field` names the parameter in messages (`resource`, or `resources` in a manifest).
 *
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2
 * @throws WritError `invalid_target` (400) naming the first bad value.
 */
export function parseResourceIndicators(values: readonly string[], field: string): string[] {
  if (values.length > MAX_RESOURCES) {
    throw invalidTarget(`${field}: at most ${MAX_RESOURCES} resource indicators (got ${values.length})`)
  }
  const out: string[] = []
  values.forEach((value, i) => {
    const at = values.length > 1 || field === 'resources' ? `${field}[${i}]` : field
    const shown = JSON.stringify(value.slice(0, 200))
    if (value.length === 0 || value.length > 2048) {
      throw invalidTarget(`${at}: expected an absolute URI of 1 to 2048 characters`)
    }
    // Ensure the audience names a resource server, not a path relative to nothing (RFC 8707 §2).
    if (!SCHEME.test(value)) {
      throw invalidTarget(`${at}: ${shown} is not an absolute URI (like https://mcp.example.com/mcp)`)
    }
    if (value.includes('#')) {
      throw invalidTarget(`${at}: ${shown} must not contain a fragment (RFC 8707 §2)`)
    }
    // Ensure an audience is one exact URI: a token's aud is compared, never matched as a glob.
    if (value.includes('*')) throw invalidTarget(`${at}: ${shown} must not contain *`)
    const problem = resourceNameProblem(value)
    if (problem !== undefined) throw invalidTarget(`${at}: ${shown} ${problem}`)
    if (/\s/.test(value)) throw invalidTarget(`${at}: ${shown} must not contain whitespace`)
    if (!out.includes(value)) out.push(value)
  })
  return out
}
