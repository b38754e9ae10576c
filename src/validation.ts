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
