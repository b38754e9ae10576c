import { unsafeCharacter } from '../text/unsafe-character.js'

/** Percent-encoded `.`, `/`, `\` and `%`: what a server may decode into a dot segment or separator. */
const ENCODED_SEPARATOR = /%(2e|2f|5c|25)/i
/** A `%` that does not start `%XX` (two hex digits): IIS `%u002e`, or a stray `%`. */
const MALFORMED_PERCENT = /%(?![0-9a-f]{2})/i
/** A run of `%XX` escapes: the bytes of one or more UTF-8 characters. */
const ESCAPE_RUN = /(?:%[0-9a-f]{2})+/gi
/** `scheme://user@host`: credentials, or a host that is not the one it seems to be. */
const USERINFO = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*@/

/**
 * Why a grant's `identifier` or one of its `locations` could mean more than it shows, or
 * undefined when it cannot: invisible, bidi or control characters, characters Unicode NFKC would
 * change (`‥`, `．`, `／`, which a server that normalises reads as `..`, `.`, `/`), backslashes, a
 * query or fragment, userinfo, `.` or `..` path segments (also with `;` path parameters, `..;`),
 * percent-encoded `.`, `/`, `\` or `%` (which a resource server may decode into one of those), a
 * `%` not followed by two hex digits (IIS `%u002e`), and escapes that are not valid UTF-8 (overlong
 * `%c0%ae`). The percent-decoded form is held to the same rules. Globs (`*`, `**`) are allowed.
 *
 * @example
 * ```ts
 * resourceNameProblem('repo/../admin')    // 'must not contain . or .. segments'
 * resourceNameProblem('a%2e%2e/b')        // 'must not percent-encode . / \ or % (found %2e)'
 * resourceNameProblem('docs/..;/secrets') // 'must not contain . or .. segments (also before a ;)'
 * resourceNameProblem('docs/**')          // undefined
 * ```
 */
export function resourceNameProblem(name: string): string | undefined {
  const shown = textProblem(name)
  if (shown !== undefined) return shown
  if (name.includes('\\')) return 'must not contain backslashes'
  if (name.includes('?') || name.includes('#')) {
    return 'must not contain a query or fragment (? or #)'
  }
  if (USERINFO.test(name)) return 'must not contain userinfo (a user@ before the host)'
  const segments = segmentProblem(name)
  if (segments !== undefined) return segments

  // Ensure every % is an escape a server decodes one way, into what the name shows.
  const malformed = MALFORMED_PERCENT.exec(name)
  if (malformed !== null) {
    return `must write % only as %XX with two hex digits (found ${name.slice(malformed.index, malformed.index + 3)})`
  }
  const encoded = ENCODED_SEPARATOR.exec(name)
  if (encoded !== null) {
    return `must not percent-encode . / \\ or % (found ${encoded[0]})`
  }
  const decoded = percentDecode(name)
  if ('problem' in decoded) return decoded.problem
  if (decoded.text === name) return undefined
  // Ensure the decoded form, which is what a resource server acts on, holds to the same rules.
  const problem = textProblem(decoded.text) ?? segmentProblem(decoded.text)
  return problem === undefined ? undefined : `${problem} (once percent-decoded)`
}

/** Characters a person could not see, or that Unicode normalisation would turn into others. */
function textProblem(text: string): string | undefined {
  const unsafe = unsafeCharacter(text)
  if (unsafe !== undefined) return unsafe
  if (text.normalize('NFKC') === text) return undefined
  for (const char of text) {
    const normal = char.normalize('NFKC')
    if (normal !== char) {
      const code = `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`
      return `must not contain compatibility characters (${code}, which normalises to ${JSON.stringify(normal)})`
    }
  }
  return 'must be in Unicode normal form NFKC'
}

/** A `.` or `..` path segment, also when path parameters follow it (`..;x`, read as `..`). */
function segmentProblem(text: string): string | undefined {
  const dots = (segment: string) => {
    const path = segment.split(';', 1)[0]
    return path === '.' || path === '..'
  }
  if (!text.split('/').some(dots)) return undefined
  return text.includes(';') ? 'must not contain . or .. segments (also before a ;)' : 'must not contain . or .. segments'
}

/** The text with each run of `%XX` escapes decoded as UTF-8, or the first run that is not UTF-8. */
function percentDecode(text: string): { text: string } | { problem: string } {
  const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
  let problem: string | undefined
  const decoded = text.replace(ESCAPE_RUN, (run) => {
    const bytes = Uint8Array.from(run.slice(1).split('%'), (hex) => parseInt(hex, 16))
    try {
      return utf8.decode(bytes)
    } catch {
      problem ??= `must percent-encode only valid UTF-8 (found ${run})`
      return run
    }
  })
  return problem === undefined ? { text: decoded } : { problem }
}
