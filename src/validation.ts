import type { z } from 'zod'

/** `grants[1].actions` from a zod issue path. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = ''
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`
    else out += out === '' ? String(segment) : `.${String(segment)}`
  }
  return out
}

/** One line per issue, each naming the field: `grants[1].actions: expected an array of strings`. */
export function formatIssues(issues: ReadonlyArray<z.core.$ZodIssue>): string[] {
  return issues.map((issue) => {
    const where = formatPath(issue.path)
    return where ? `${where}: ${issue.message}` : issue.message
  })
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean',
  bigint: 'an integer',
  null: 'null',
  array: 'an array',
  object: 'an object',
  record: 'an object',
  tuple: 'an array',
  date: 'a date',
  map: 'a map',
  set: 'a set',
}

const quote = (value: unknown): string =>
  typeof value === 'string' ? JSON.stringify(value) : String(value)

/**
 * A zod error map that says what is expected in plain words: `required`,
 * `expected an array`, `at most 64 characters (got 70)`, `unknown field "foo"`. Pass it per parse,
 * `schema.safeParse(input, { error: friendlyErrors })`; messages set on a schema still win.
 * Returns undefined (zod's default message) for anything it has no better words for.
 */
export const friendlyErrors: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'required'
      return `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}`
    case 'too_small': {
      const min = Number(issue.minimum)
      if (issue.origin === 'string') {
        return min === 1 ? 'must not be empty' : `at least ${min} characters`
      }
      if (issue.origin === 'array' || issue.origin === 'set') {
        return min === 1 ? 'must not be empty' : `at least ${min} items`
      }
      return issue.inclusive === false ? `must be greater than ${min}` : `must be at least ${min}`
    }
    case 'too_big': {
      const max = Number(issue.maximum)
      if (issue.origin === 'string') {
        const got = typeof issue.input === 'string' ? ` (got ${issue.input.length})` : ''
        return `at most ${max} characters${got}`
      }
      if (issue.origin === 'array' || issue.origin === 'set') {
        const got = Array.isArray(issue.input) ? ` (got ${issue.input.length})` : ''
        return `at most ${max} items${got}`
      }
      return issue.inclusive === false ? `must be less than ${max}` : `must be at most ${max}`
    }
    case 'unrecognized_keys': {
      const names = issue.keys.map(quote).join(', ')
      return issue.keys.length === 1 ? `unknown field ${names}` : `unknown fields ${names}`
    }
    case 'invalid_value':
      return issue.values.length === 1
        ? `expected ${quote(issue.values[0])}`
        : `expected one of ${issue.values.map(quote).join(', ')}`
    case 'invalid_format':
      if (issue.format === 'url') return 'expected a URL'
      if (issue.format === 'regex') return 'has characters that are not allowed'
      return `expected ${issue.format} format`
    case 'not_multiple_of':
      return `expected a multiple of ${issue.divisor}`
    default:
      return undefined
  }
}
