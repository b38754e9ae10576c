import { WritError } from '../errors.js'
import type { AuthorizationDetail } from '../manifest/types.js'

/** RFC 6749 §3.3 scope-token characters: %x21 / %x23-5B / %x5D-7E. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/

/**
 * The token's `scope`: space-separated unique `type:action` pairs in first-seen order
 * (`repo:read repo:write`); a grant without actions contributes its bare `type`.
 * `authorization_details` stays the authoritative statement; `scope` is the coarse summary
 * OAuth tooling understands.
 */
export function scopeFor(details: AuthorizationDetail[]): string {
  const seen = new Set<string>()
  details.forEach((detail, index) => {
    const actions = detail.actions ?? []
    const tokens = actions.length === 0 ? [detail.type] : actions.map((a) => `${detail.type}:${a}`)
    for (const token of tokens) {
      // Ensure each pair is a valid scope token, so the scope cannot be split or re-joined.
      if (!SCOPE_TOKEN.test(token)) {
        throw new WritError(
          'invalid_authorization_details',
          400,
          `authorization_details[${index}]: type and actions must be printable ASCII ` +
            'without spaces, quotes or backslashes',
        )
      }
      seen.add(token)
    }
  })
  return [...seen].join(' ')
}
