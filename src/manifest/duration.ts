import { invalidRequest } from '../errors.js'

/** The longest duration writ accepts anywhere: 24 hours. */
export const MAX_DURATION_SECONDS = 24 * 3600

// Anchored, no nested or overlapping quantifiers: linear on any input.
const DURATION = /^(?:(\d{1,6})h)?(?:(\d{1,6})m)?(?:(\d{1,6})s)?$/
const SECONDS = /^\d{1,6}$/

/**
 * Why `input` is not an acceptable duration, or its length in seconds. Shared by
 * {@link parseDuration} and the zod schemas of the manifest and the policy.
 *
 * @internal
 */
export function readDuration(input: unknown): { seconds: number } | { problem: string } {
  const expected = { problem: 'expected a duration like 90s, 15m or 1h' }
  let seconds: number
  if (typeof input === 'number') {
    // Ensure a bare number is a whole, positive count of seconds.
    if (!Number.isSafeInteger(input) || input <= 0) return expected
    seconds = input
  } else if (typeof input === 'string') {
    if (SECONDS.test(input)) {
      // A form parameter cannot carry a number: "900" means 900 seconds.
      seconds = Number(input)
    } else {
      const parts = input.length > 0 ? DURATION.exec(input) : null
      if (!parts) return expected
      const [, h, m, s] = parts
      seconds = Number(h ?? 0) * 3600 + Number(m ?? 0) * 60 + Number(s ?? 0)
    }
    if (seconds <= 0) return expected
  } else {
    return expected
  }
  // Ensure nothing lives longer than the global cap.
  if (seconds > MAX_DURATION_SECONDS) {
    return { problem: `at most 24h (${MAX_DURATION_SECONDS} seconds)` }
  }
  return { seconds }
}

/**
 * Parses a duration into seconds: a positive whole number of seconds (`900` or `"900"`), or a
 * string of hours, minutes and seconds in that order (`90s`, `15m`, `1h`, `1h30m`, `2m30s`).
 * At most 24 hours.
 *
 * @param field Named in the error message, for example `ttl`.
 * @throws WritError `invalid_request` naming the field:
 *   `ttl: expected a duration like 90s, 15m or 1h`.
 */
export function parseDuration(input: unknown, field: string): number {
  const result = readDuration(input)
  if ('problem' in result) throw invalidRequest(`${field}: ${result.problem}`)
  return result.seconds
}
