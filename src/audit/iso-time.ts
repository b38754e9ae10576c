import type { Clock } from '../clock.js'

/**
 * The clock's time in ISO 8601 with milliseconds, exactly as `new Date(ms).toISOString()` writes
 * it, for the stamp of every audit event: the date and time of the current second is formatted once
 * per second, and only the milliseconds per call.
 */
export function isoTime(clock: Clock): () => string {
  let second = Number.NaN
  let prefix = ''
  return () => {
    // Date truncates a fractional millisecond toward zero.
    const ms = Math.trunc(clock())
    const s = Math.floor(ms / 1000)
    if (s !== second) {
      // Everything up to the milliseconds, for any year form ("2026-…", "+275760-…").
      prefix = new Date(s * 1000).toISOString().slice(0, -4)
      second = s
    }
    const frac = ms - s * 1000
    return `${prefix}${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}Z`
  }
}
