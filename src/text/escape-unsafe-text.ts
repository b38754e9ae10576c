import { UNSAFE_CHARACTER } from './unsafe-character.js'

const ALL_UNSAFE = new RegExp(UNSAFE_CHARACTER.source, 'gu')

/** `\u001B`, or a surrogate pair `\uDB40\uDC01` for a character beyond the BMP (as JSON writes). */
const escapeOne = (char: string): string => {
  let out = ''
  for (let i = 0; i < char.length; i++) {
    out += `\\u${char.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0')}`
  }
  return out
}

/**
 * Text safe to write to a terminal: every control, invisible or bidi character (ESC and CSI, C1
 * controls, zero-width characters, bidi overrides and isolates, line and paragraph separators,
 * non-plain spaces, ...) becomes a visible `\u` escape of four hex digits (`\u001b`). The
 * escapes are JSON's, so a JSON text stays valid JSON with the same value.
 *
 * @example
 * ```ts
 * escapeUnsafeText('agent\u001b[1A\u001b[2K') // 'agent\\u001B[1A\\u001B[2K'
 * escapeUnsafeText('"a\u2028b"')              // '"a\\u2028b"' (still the JSON string a\u2028b)
 * ```
 */
export function escapeUnsafeText(text: string): string {
  return text.replace(ALL_UNSAFE, escapeOne)
}
