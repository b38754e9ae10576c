import { normalizePersonId } from './normalize-person-id.js'

/** The normal form of an id, or the id as given when it has none (it then only equals itself). */
const normal = (id: string): string => {
  const result = normalizePersonId(id)
  return 'id' in result ? result.id : id
}

/**
 * Whether two ids name the same person, compared in their normal form
 * ({@link normalizePersonId}): `Carol@Example.com.` and `carol@example.com` do.
 *
 * @example
 * ```ts
 * samePerson('Carol@Example.com.', 'carol@example.com') // true
 * samePerson('carol@example.com', 'carol@example.org')  // false
 * ```
 */
export function samePerson(a: string, b: string): boolean {
  return a === b || normal(a) === normal(b)
}
