import { unsafeCharacter } from '../text/unsafe-character.js'

/** Percent-encoded `.`, `/`, `\` and `%`: what a server may decode into a dot segment or separator. */
const ENCODED_SEPARATOR = /%(2e|2f|5c|25)/i
/** `scheme://user@host`: credentials, or a host that is not the one it seems to be. */
const USERINFO = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*@/

/**
 * Why a grant's `identifier` or one of its `locations` could mean more than it shows, or
 * undefined when it cannot: invisible, bidi or control characters, backslashes, a query or
 * fragment, userinfo, `.` or `..` path segments, or percent-encoded `.`, `/`, `\` or `%` (which a
 * resource server may decode into one of those). Globs (`*`, `**`) are allowed.
 *
 * @example
 * ```ts
 * resourceNameProblem('repo/../admin') // 'must not contain . or .. segments'
 * resourceNameProblem('a%2e%2e/b')     // 'must not percent-encode . / \ or % (found %2e)'
 * resourceNameProblem('docs/**')       // undefined
 * ```
 */
export function resourceNameProblem(name: string): string | undefined {
  const unsafe = unsafeCharacter(name)
  if (unsafe !== undefined) return unsafe
  if (name.includes('\\')) return 'must not contain backslashes'
  if (name.includes('?') || name.includes('#')) {
    return 'must not contain a query or fragment (? or #)'
  }
  const encoded = ENCODED_SEPARATOR.exec(name)
  if (encoded !== null) {
    return `must not percent-encode . / \\ or % (found ${encoded[0]})`
  }
  if (USERINFO.test(name)) return 'must not contain userinfo (a user@ before the host)'
  if (name.split('/').some((segment) => segment === '.' || segment === '..')) {
    return 'must not contain . or .. segments'
  }
  return undefined
}
