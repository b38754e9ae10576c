import { WritError } from '../errors.js'
import type { AuthorizationDetail } from '../manifest/types.js'
import type { Policy } from '../policy/types.js'
import { audienceFor } from '../tokens/index.js'
import { patternCovers } from '../wire/glob.js'

const asList = (aud: unknown): string[] =>
  (Array.isArray(aud) ? aud : [aud]).filter((value): value is string => typeof value === 'string')

/**
 * The `aud` of a token delegated from a parent. A parent whose audience follows its grants'
 * locations gives a child whose audience follows its own (narrower) locations. A parent whose
 * RFC 8707 `resource` narrowed its audience below its locations gives a child only those of the
 * parent's audiences its grants still reach (by a location, or by the `resources` of the rule
 * that matched the parent's covering grant): a child must never be accepted by a server its
 * parent was not issued for.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2 (the resource indicator becomes `aud`)
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.1 (the issued token may only narrow)
 * @throws WritError `invalid_target` (400) naming the first location the parent was not issued
 *   for, when no audience of the parent is left.
 */
export function delegatedAudience(input: {
  policy: Policy
  defaultAudience: string
  parentAud: unknown
  parentDetails: readonly AuthorizationDetail[]
  childDetails: AuthorizationDetail[]
  /** The rule of the parent's grant covering each child grant. */
  ruleIds: readonly string[]
}): string | string[] {
  const parentAud = asList(input.parentAud)
  const byLocations = asList(audienceFor([...input.parentDetails], input.defaultAudience))
  const narrowed =
    parentAud.length !== byLocations.length || parentAud.some((value) => !byLocations.includes(value))
  if (!narrowed) return audienceFor(input.childDetails, input.defaultAudience)
  const ruleResources = input.ruleIds.flatMap((id) => input.policy.ruleById.get(id)?.resources ?? [])
  const kept = parentAud.filter(
    (resource) =>
      input.childDetails.some((grant) => (grant.locations ?? []).some((location) => patternCovers(location, resource))) ||
      ruleResources.some((pattern) => patternCovers(pattern, resource)),
  )
  if (kept.length === 0) {
    const locations = input.childDetails.flatMap((grant) => grant.locations ?? [])
    const outside = locations.find((location) => !parentAud.includes(location)) ?? locations[0] ?? input.defaultAudience
    throw new WritError(
      'invalid_target',
      400,
      `authorization_details: the subject token was issued only for ${parentAud.join(', ')} (RFC 8707 resource), ` +
        `not for ${outside}`,
    )
  }
  return audienceFor(input.childDetails, input.defaultAudience, kept)
}
