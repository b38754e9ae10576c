const MAX_MESSAGE_PROBLEMS = 20

/**
 * Distinct problems joined by `; ` for one error message, at most twenty of them
 * (`...; and 7 more`). `fallback` is used when the list is empty.
 */
export function joinProblems(problems: ReadonlyArray<string>, fallback: string): string {
  const distinct = [...new Set(problems)]
  if (distinct.length === 0) return fallback
  const shown = distinct.slice(0, MAX_MESSAGE_PROBLEMS)
  const more = distinct.length - shown.length
  return shown.join('; ') + (more > 0 ? `; and ${more} more` : '')
}
