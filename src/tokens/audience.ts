import type { AuthorizationDetail } from '../manifest/types.js'

/**
 * The token's `aud`: the unique `locations` across all grants, sorted; a string when there is one,
 * an array when there are several, `defaultAudience` when no grant names a location.
 */
export function audienceFor(
  details: AuthorizationDetail[],
  defaultAudience: string,
): string | string[] {
  const locations = new Set<string>()
  for (const detail of details) {
    for (const location of detail.locations ?? []) locations.add(location)
  }
  const sorted = [...locations].sort()
  if (sorted.length === 0) return defaultAudience
  return sorted.length === 1 ? (sorted[0] as string) : sorted
}
