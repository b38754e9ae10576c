import { formatPath } from '../validation.js'

/** Member names that reach object prototypes in JavaScript; refused anywhere in untrusted input. */
export const FORBIDDEN_NAMES: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
])

/** How deeply untrusted JSON may nest. Deeper input is refused before anything recurses over it. */
export const MAX_JSON_DEPTH = 32

const MAX_PROBLEMS = 20
const LONE_SURROGATE = /\p{Cs}/u

/**
 * Walks untrusted input and lists everything that keeps it from being plain, canonicalizable JSON:
 * values other than null, booleans, finite numbers, strings, arrays and plain objects; strings or
 * member names with lone surrogates; the member names `__proto__`, `constructor` and `prototype`;
 * nesting deeper than {@link MAX_JSON_DEPTH}. Each problem names its path, for example
 * `grants[0].__proto__: field name not allowed`. Never recurses deeper than the limit, so cycles
 * and hostile nesting are safe.
 */
export function findJsonProblems(value: unknown, base: ReadonlyArray<PropertyKey> = []): string[] {
  const problems: string[] = []
  const path: PropertyKey[] = [...base]
  const report = (message: string): void => {
    if (problems.length < MAX_PROBLEMS) {
      const where = formatPath(path)
      problems.push(where ? `${where}: ${message}` : message)
    }
  }

  const visit = (node: unknown, depth: number): void => {
    if (problems.length >= MAX_PROBLEMS) return
    if (node === null || typeof node === 'boolean') return
    if (typeof node === 'number') {
      // Ensure numbers survive JSON: no NaN or infinities.
      if (!Number.isFinite(node)) report('expected a finite number')
      return
    }
    if (typeof node === 'string') {
      // Ensure strings are valid Unicode, so they can be canonicalized and hashed.
      if (LONE_SURROGATE.test(node)) report('contains an invalid (lone surrogate) character')
      return
    }
    if (typeof node !== 'object') {
      report(`expected a JSON value, got a ${typeof node}`)
      return
    }
    // Ensure hostile nesting (or a YAML alias cycle) cannot exhaust the stack later.
    if (depth >= MAX_JSON_DEPTH) {
      report(`nested too deeply (more than ${MAX_JSON_DEPTH} levels)`)
      return
    }
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        path.push(i)
        visit(node[i], depth + 1)
        path.pop()
      }
      return
    }
    // Ensure objects are plain data, not Dates, Buffers or class instances.
    const proto: unknown = Object.getPrototypeOf(node)
    const plain = proto === Object.prototype || proto === null
    if (!plain || Object.getOwnPropertySymbols(node).length > 0) {
      report('expected a JSON value')
      return
    }
    for (const name of Object.keys(node)) {
      path.push(name)
      // Ensure no member name can reach a prototype when the data is copied or merged later.
      if (FORBIDDEN_NAMES.has(name)) report('field name not allowed')
      else if (LONE_SURROGATE.test(name)) report('field name contains an invalid character')
      else visit((node as Record<string, unknown>)[name], depth + 1)
      path.pop()
    }
  }

  visit(value, 0)
  return problems
}
