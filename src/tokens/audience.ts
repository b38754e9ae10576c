import type { AuthorizationDetail } from '../manifest/types.js'

/**
 * The token's `aud`. With RFC 8707 `resources` (already validated and deduplicated, and covered by
 * the grants): exactly those, in request order. Otherwise the unique `locations` across all grants,
 * sorted, or `defaultAudience` when no grant names a location. A string when there is one value,
 * an array when there are several.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2.2
 */
export function audienceFor(
  details: AuthorizationDetail[],
  defaultAudience: string,
  resources?: readonly string[],
): string | string[] {
  if (resources !== undefined && resources.length > 0) {
    return resources.length === 1 ? resources[0]! : [...resources]
  }
  const locations = new Set<string>()
  for (const detail of details) {
    for (const location of detail.locations ?? []) locations.add(location)
  }
  const sorted = [...locations].sort()
  if (sorted.length === 0) return defaultAudience
  return sorted.length === 1 ? (sorted[0] as string) : sorted
}
