/**
 * Serializes a JSON value with the JSON Canonicalization Scheme (RFC 8785): object members sorted
 * by the UTF-16 code units of their names, numbers in ECMAScript `Number.prototype.toString` form,
 * strings escaped as `JSON.stringify` does, and no whitespace. Equal JSON data always gives the
 * same text, so the text can be hashed and signed.
 *
 * Only the JSON data model is accepted (RFC 8785 §3.1 requires I-JSON): `null`, booleans, finite
 * numbers, well-formed strings, arrays and plain objects. Anything else throws a TypeError:
 * `undefined` (also as a member value), functions, symbols, bigints, `NaN` and infinities, strings
 * with lone surrogates, class instances such as `Date` or `Map`, symbol-keyed members and cycles.
 *
 * @example
 * canonicalize({ b: [1e21, -0], a: 'x' }) // '{"a":"x","b":[1e+21,0]}'
 */
export function canonicalize(value: unknown): string {
  // The fast path serializes valid JSON without tracking where it is; whatever it cannot take is
  // serialized again by the slow path, which names the offending member in its TypeError.
  const fast = serializeFast(value, 0)
  return fast ?? serialize(value, '$', new Set())
}

/** Nesting past which the fast path gives up (a cycle, or very deep data: the slow path decides). */
const FAST_MAX_DEPTH = 256

type WellFormed = string & { isWellFormed(): boolean }

/**
 * Canonical JSON of `value`, or undefined when it is not plain JSON (or nests deeper than
 * FAST_MAX_DEPTH). Accepts exactly what `serialize` accepts, with the same output.
 */
function serializeFast(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false'
    case 'number':
      return Number.isFinite(value) ? String(value) : undefined
    case 'string':
      return (value as WellFormed).isWellFormed() ? JSON.stringify(value) : undefined
    case 'object': {
      if (value === null) return 'null'
      if (depth >= FAST_MAX_DEPTH) return undefined
      if (Array.isArray(value)) {
        let out = '['
        for (let i = 0; i < value.length; i++) {
          const item = serializeFast(value[i], depth + 1)
          if (item === undefined) return undefined
          out += i === 0 ? item : `,${item}`
        }
        return `${out}]`
      }
      const proto: unknown = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return undefined
      if (Object.getOwnPropertySymbols(value).length > 0) return undefined
      const names = Object.keys(value).sort()
      let out = '{'
      for (let i = 0; i < names.length; i++) {
        const name = names[i] as string
        if (!(name as WellFormed).isWellFormed()) return undefined
        const member = serializeFast((value as Record<string, unknown>)[name], depth + 1)
        if (member === undefined) return undefined
        out += `${i === 0 ? '' : ','}${JSON.stringify(name)}:${member}`
      }
      return `${out}}`
    }
    default:
      return undefined
  }
}

const LONE_SURROGATE = /\p{Cs}/u

function serialize(value: unknown, at: string, ancestors: Set<object>): string {
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false'
    case 'number':
      // Ensure the number is representable in JSON: I-JSON has no NaN or infinities.
      if (!Number.isFinite(value)) throw new TypeError(`canonicalize: ${at} is not a finite number`)
      // ECMAScript Number-to-String (RFC 8785 §3.2.2.3); String(-0) is already "0".
      return String(value)
    case 'string':
      // Ensure the string is valid Unicode: RFC 8785 forbids lone surrogates.
      if (LONE_SURROGATE.test(value)) {
        throw new TypeError(`canonicalize: ${at} contains a lone surrogate`)
      }
      return JSON.stringify(value)
    case 'object':
      if (value === null) return 'null'
      return serializeContainer(value, at, ancestors)
    default:
      throw new TypeError(`canonicalize: ${at} is ${describe(value)}, which is not JSON`)
  }
}

function serializeContainer(value: object, at: string, ancestors: Set<object>): string {
  // Ensure the structure is a tree: a cycle has no JSON form.
  if (ancestors.has(value)) throw new TypeError(`canonicalize: ${at} is a circular reference`)
  ancestors.add(value)
  try {
    if (Array.isArray(value)) {
      const items: string[] = []
      for (let i = 0; i < value.length; i++) {
        items.push(serialize(value[i], `${at}[${i}]`, ancestors))
      }
      return `[${items.join(',')}]`
    }
    // Ensure only plain data objects are serialized; Date, Map, class instances are not JSON.
    const proto: unknown = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(`canonicalize: ${at} is ${describe(value)}, which is not JSON`)
    }
    if (Object.getOwnPropertySymbols(value).length > 0) {
      throw new TypeError(`canonicalize: ${at} has symbol-keyed members, which are not JSON`)
    }
    // Default sort compares UTF-16 code units, exactly as RFC 8785 §3.2.3 requires.
    const names = Object.keys(value).sort()
    const members: string[] = []
    for (const name of names) {
      const member = (value as Record<string, unknown>)[name]
      const where = `${at}[${JSON.stringify(name)}]`
      if (LONE_SURROGATE.test(name)) {
        throw new TypeError(`canonicalize: member name at ${where} contains a lone surrogate`)
      }
      members.push(`${JSON.stringify(name)}:${serialize(member, where, ancestors)}`)
    }
    return `{${members.join(',')}}`
  } finally {
    ancestors.delete(value)
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined'
  if (typeof value === 'object' && value !== null) {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name
    return typeof name === 'string' && name !== '' ? `a ${name}` : 'an exotic object'
  }
  return `a ${typeof value}`
}
