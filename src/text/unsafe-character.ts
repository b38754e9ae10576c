/**
 * Characters a person cannot see, or that change how the text around them reads: controls (C0,
 * C1), format characters (zero-width space and joiners, soft hyphen, bidi embeddings, overrides
 * and isolates, the byte order mark, tag characters), line and paragraph separators, every other
 * default-ignorable code point (variation selectors, Hangul fillers, ...), and whitespace other
 * than the plain space.
 */
export const UNSAFE_CHARACTER =
  /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/u

/** C0 and C1 controls (and DEL). */
const CONTROL = /\p{Cc}/u

/**
 * The first character of `text` a person could not see or would misread, described for an error
 * message, or undefined when there is none.
 *
 * @example
 * ```ts
 * unsafeCharacter('docs/\u200bsecret') // 'must not contain invisible or bidi characters (U+200B)'
 * unsafeCharacter('a\u001b[2Kb')       // 'must not contain control characters (U+001B)'
 * unsafeCharacter('docs/guide.md')     // undefined
 * ```
 */
export function unsafeCharacter(text: string): string | undefined {
  const found = UNSAFE_CHARACTER.exec(text)
  if (found === null) return undefined
  const char = found[0]
  const code = `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`
  return CONTROL.test(char)
    ? `must not contain control characters (${code})`
    : `must not contain invisible or bidi characters (${code})`
}
