import { html, type SafeHtml } from './html.js'

/** Printable ASCII: shown as it is. Everything else is shown marked, with its code point. */
const PLAIN = /^[\u0020-\u007e]$/

/** `U+0430`. */
const codePoint = (char: string): string =>
  `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`

/** Characters a person may not see at all: shown only as their code point. */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Zs}\p{Default_Ignorable_Code_Point}]/u

/**
 * A value an approver must read exactly (an identifier, a location, an action, a task id, a
 * person), as `<code>`: printable ASCII as is, every other character marked and followed by its
 * code point, so `rеpo` with a Cyrillic `е` reads `r` `е U+0435` `po` and cannot pass for `repo`;
 * a character that shows nothing (which intake refuses) appears only as its code point.
 *
 * @example
 * ```ts
 * html`<dd>${literal(grant.identifier)}</dd>`
 * ```
 */
export function literal(text: string): SafeHtml {
  const parts = [...text].map((char) => {
    if (PLAIN.test(char)) return char
    const code = codePoint(char)
    if (HIDDEN.test(char) && char !== ' ') return html`<mark class="uni">${code}</mark>`
    return html`<mark class="uni" title="${code}">${char}<sup>${code}</sup></mark>`
  })
  return html`<code>${parts}</code>`
}
