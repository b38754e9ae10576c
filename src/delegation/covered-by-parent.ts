import { WritError } from '../errors.js'
import { canonicalize } from '../manifest/canonicalize.js'
import type { AuthorizationDetail } from '../manifest/types.js'
import { describeGrant } from '../policy/describe-grant.js'
import { matchRule } from '../policy/match-rule.js'
import type { PolicyRule } from '../policy/types.js'

/** The RFC 9396 common members; every other member must be the parent's, exactly. */
const COMMON = new Set(['type', 'actions', 'locations', 'identifier'])

/** A parent grant as a rule: the containment a policy rule applies, with the parent as its match. */
function asRule(parent: AuthorizationDetail, index: number): PolicyRule {
  const match: PolicyRule['match'] = {
    type: parent.type,
    actions: Array.isArray(parent.actions) ? parent.actions : [],
  }
  if (Array.isArray(parent.locations)) match.locations = parent.locations
  if (typeof parent.identifier === 'string') match.identifier = parent.identifier
  return { id: `parent[${index}]`, index, match, maxTtlSeconds: 0, approval: null }
}

/** Why `parent` does not cover `child`, or null when it does. */
function notCovered(parent: AuthorizationDetail, index: number, child: AuthorizationDetail): string | null {
  // Ensure type, actions, locations and identifier are contained, by the glob containment the
  // policy's rules use (`matchRule`, `patternCovers`): no second matcher to disagree with it.
  const matched = matchRule(asRule(parent, index), child)
  if (!matched.matched) return matched.reason
  // Ensure a parent without locations (its token is for the default audience) cannot be narrowed
  // into one naming a location: that would move the child's audience elsewhere.
  if (!Array.isArray(parent.locations) && child.locations !== undefined) {
    return 'locations: the grant delegated from names none'
  }
  // Ensure type-specific members (role_arn, ...), which are not patterns, stay exactly the same.
  const members = new Set([...Object.keys(parent), ...Object.keys(child)])
  for (const member of members) {
    if (COMMON.has(member)) continue
    const a = parent[member]
    const b = child[member]
    if (a === undefined || b === undefined || canonicalize(a) !== canonicalize(b)) {
      return `${member}: must be the same as in the grant delegated from`
    }
  }
  return null
}

/**
 * Which grant of the parent covers each requested grant (its index in `parent`), in order.
 * A grant is covered when some parent grant of the same type allows every action it names, every
 * location and identifier it could reach (patterns included), and has the same type-specific
 * members. Nothing a parent lacks can be reached by delegating.
 *
 * @throws WritError `invalid_authorization_details` (400, RFC 9396 §5) naming the first grant not
 *   covered, why, and the others.
 */
export function coveredByParent(
  parent: readonly AuthorizationDetail[],
  requested: readonly AuthorizationDetail[],
): number[] {
  const covering: number[] = []
  const refused: Array<{ index: number; reason: string }> = []
  requested.forEach((child, index) => {
    let reason: string | null = null
    for (let p = 0; p < parent.length; p++) {
      const why = notCovered(parent[p]!, p, child)
      if (why === null) {
        covering.push(p)
        return
      }
      // The reason worth telling is the one of a grant of the same type, when there is one.
      if (reason === null || parent[p]!.type === child.type) reason = why
    }
    refused.push({ index, reason: reason ?? 'the subject token holds no grants' })
  })
  const [first, ...others] = refused
  if (first !== undefined) {
    const also = others.length > 0 ? `; also not covered: ${others.map((r) => `authorization_details[${r.index}]`).join(', ')}` : ''
    throw new WritError(
      'invalid_authorization_details',
      400,
      `authorization_details[${first.index}] (${describeGrant(requested[first.index]!)}) is not covered ` +
        `by any grant of the subject token: ${first.reason}${also}`,
    )
  }
  return covering
}
