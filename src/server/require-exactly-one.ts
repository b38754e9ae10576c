import { invalidRequest } from '../errors.js'

/**
 * Ensures a request body names exactly one of `names` (an admin action's target: one thing to
 * revoke, one thing to lock), and returns that name. Never guesses between two.
 *
 * @throws WritError `invalid_request` (400) listing the names when none or several are given.
 */
export function requireExactlyOne<K extends string>(
  body: Partial<Record<K, unknown>>,
  names: readonly K[],
): K {
  const named = names.filter((name) => body[name] !== undefined)
  if (named.length !== 1) {
    throw invalidRequest(
      named.length === 0
        ? `exactly one of ${names.join(', ')} is required`
        : `exactly one of ${names.join(', ')} is allowed (got ${named.join(', ')})`,
    )
  }
  return named[0]!
}
