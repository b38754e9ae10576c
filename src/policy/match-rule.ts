import type { AuthorizationDetail } from '../manifest/types.js'
import { patternCovers } from '../wire/glob.js'
import type { PolicyRule } from './types.js'

/** Whether a rule covers a grant; when it does not, the first reason why, in plain words. */
export type RuleMatchResult = { matched: true } | { matched: false; reason: string }

const list = (values: readonly string[]): string => `[${values.join(', ')}]`

/**
 * Does `rule` cover one grant? Every condition must hold (default deny):
 * - the grant's `type` equals the rule's;
 * - the grant names at least one action, and every one is among the rule's actions;
 * - if the rule has `locations`, the grant names locations and each is covered by one of the
 *   rule's location patterns;
 * - if the rule has an `identifier`, the grant names one and the rule's pattern covers it.
 *
 * The grant's locations and identifier may themselves be patterns (`docs/**`); they are covered
 * only if everything they could match is allowed ({@link patternCovers}). A field the rule does
 * not constrain is allowed as given.
 */
export function matchRule(rule: PolicyRule, grant: AuthorizationDetail): RuleMatchResult {
  const { match } = rule
  // Ensure the grant is the kind of access the rule is about.
  if (grant.type !== match.type) {
    return { matched: false, reason: `type ${grant.type} is not ${match.type}` }
  }
  // Ensure the grant asks for specific actions, each of which the rule allows.
  const actions = Array.isArray(grant.actions) ? grant.actions : []
  if (actions.length === 0) return { matched: false, reason: 'the grant names no actions' }
  for (const action of actions) {
    if (!match.actions.includes(action)) {
      return { matched: false, reason: `action ${action} not in ${list(match.actions)}` }
    }
  }
  // Ensure every location the grant could reach is one the rule allows.
  if (match.locations) {
    const locations = Array.isArray(grant.locations) ? grant.locations : []
    if (locations.length === 0) {
      const reason = `the grant names no locations; the rule allows only ${list(match.locations)}`
      return { matched: false, reason }
    }
    for (const location of locations) {
      if (!match.locations.some((pattern) => patternCovers(pattern, location))) {
        const reason = `location ${location} not covered by ${list(match.locations)}`
        return { matched: false, reason }
      }
    }
  }
  // Ensure the resource identifier (possibly a pattern) stays within the rule's pattern.
  if (match.identifier !== undefined) {
    if (typeof grant.identifier !== 'string') {
      const reason = `the grant names no identifier; the rule allows only ${match.identifier}`
      return { matched: false, reason }
    }
    if (!patternCovers(match.identifier, grant.identifier)) {
      const reason = `identifier ${grant.identifier} not covered by ${match.identifier}`
      return { matched: false, reason }
    }
  }
  return { matched: true }
}
