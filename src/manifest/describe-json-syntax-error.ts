const OBJECT = 0
const ARRAY = 1

/**
 * Explains why `text` is not JSON (RFC 8259) in a short, stable sentence with the position of the
 * first error: `unexpected character '}', expected a value at line 3, column 14`. Meant for text
 * `JSON.parse` already refused: `JSON.parse` produces the value, this only produces the message,
 * whose wording does not depend on the Node version and never echoes the input. Iterative, linear.
 */
export function describeJsonSyntaxError(text: string): string {
  const n = text.length
  const stack: number[] = []
  let i = 0

  const fail = (reason: string, at = i): string => `${reason} at ${lineAndColumn(text, at)}`
  const unexpected = (expected: string): string =>
    i >= n
      ? fail('unexpected end of input')
      : fail(`unexpected ${show(text, i)}, expected ${expected}`)
  const skipSpace = (): void => {
    while (i < n) {
      const c = text.charCodeAt(i)
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break
      i++
    }
  }
  const isDigit = (at: number): boolean => {
    const c = text.charCodeAt(at)
    return c >= 0x30 && c <= 0x39
  }
  const readString = (): string | undefined => {
    const start = i
    i++
    while (i < n) {
      const c = text.charCodeAt(i)
      if (c === 0x22) {
        i++
        return undefined
      }
      if (c === 0x5c) {
        const escape = text[i + 1]
        if (escape === 'u') {
          for (let k = 2; k < 6; k++) {
            if (!/[0-9A-Fa-f]/.test(text[i + k] ?? '')) return fail('invalid \\u escape in string')
          }
          i += 6
        } else if (escape !== undefined && '"\\/bfnrt'.includes(escape)) {
          i += 2
        } else {
          return fail('invalid escape in string')
        }
        continue
      }
      if (c < 0x20) return fail('unescaped control character in string')
      i++
    }
    return fail('unterminated string', start)
  }
  const readNumber = (): string | undefined => {
    const start = i
    if (text[i] === '-') i++
    if (text[i] === '0') i++
    else if (isDigit(i)) while (isDigit(i)) i++
    else return fail('invalid number', start)
    if (text[i] === '.') {
      i++
      if (!isDigit(i)) return fail('invalid number', start)
      while (isDigit(i)) i++
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++
      if (text[i] === '+' || text[i] === '-') i++
      if (!isDigit(i)) return fail('invalid number', start)
      while (isDigit(i)) i++
    }
    return undefined
  }
  /** A member name and its colon; the member's value comes next. */
  const readName = (): string | undefined => {
    skipSpace()
    if (text[i] !== '"') return unexpected('a double-quoted property name')
    const error = readString()
    if (error) return error
    skipSpace()
    if (text[i] !== ':') return unexpected("':'")
    i++
    return undefined
  }

  let expectValue = true
  for (;;) {
    skipSpace()
    if (expectValue) {
      const ch = text[i]
      let error: string | undefined
      if (ch === '{' || ch === '[') {
        i++
        skipSpace()
        if (text[i] === (ch === '{' ? '}' : ']')) {
          i++
          expectValue = false
          continue
        }
        stack.push(ch === '{' ? OBJECT : ARRAY)
        if (ch === '{') error = readName()
        if (error) return error
        continue
      }
      if (ch === '"') error = readString()
      else if (ch === '-' || isDigit(i)) error = readNumber()
      else {
        const word = ['true', 'false', 'null'].find((w) => text.startsWith(w, i))
        if (!word) return unexpected('a value')
        i += word.length
      }
      if (error) return error
      expectValue = false
      continue
    }
    const top = stack[stack.length - 1]
    if (top === undefined) {
      if (i < n) return fail('unexpected data after the JSON value')
      return 'malformed JSON'
    }
    const close = top === OBJECT ? '}' : ']'
    if (text[i] === ',') {
      i++
      if (top === OBJECT) {
        const error = readName()
        if (error) return error
      }
      expectValue = true
    } else if (text[i] === close) {
      i++
      stack.pop()
    } else {
      return unexpected(`',' or '${close}'`)
    }
  }
}

function show(text: string, at: number): string {
  const code = text.codePointAt(at) ?? 0
  if (code < 0x20 || code === 0x7f || (code >= 0x80 && code < 0xa0)) {
    return `character U+${code.toString(16).toUpperCase().padStart(4, '0')}`
  }
  return `character '${String.fromCodePoint(code)}'`
}

function lineAndColumn(text: string, offset: number): string {
  let line = 1
  let lineStart = 0
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text.charCodeAt(k) === 0x0a) {
      line++
      lineStart = k + 1
    }
  }
  return `line ${line}, column ${offset - lineStart + 1}`
}
