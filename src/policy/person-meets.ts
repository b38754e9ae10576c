import { samePerson } from '../text/same-person.js'
import type { PolicyRule, ProvenPerson } from './types.js'

/**
 * Whether a rule may serve a request made for `person` (or for no person: `undefined`). A rule
 * without `person` conditions serves any request. A rule with them serves only a proven person
 * who meets all of them: the id is among `subjects` (compared in normal form), and for each claim
 * in `claims` the token's values include one of the accepted ones. Default deny: a request for
 * no person never meets a rule's person conditions.
 */
export function personMeets(rule: PolicyRule, person: ProvenPerson | undefined): boolean {
  const wanted = rule.person
  if (wanted === undefined) return true
  if (person === undefined) return false
  if (wanted.subjects !== undefined && !wanted.subjects.some((s) => samePerson(s, person.id))) return false
  for (const [claim, accepted] of Object.entries(wanted.claims ?? {})) {
    const values = person.claims[claim] ?? []
    if (!values.some((v) => accepted.includes(v))) return false
  }
  return true
}

/** Every claim name some rule's `person.claims` tests: what a proven person must carry along. */
export function personClaimNames(rules: readonly PolicyRule[]): string[] {
  const names = new Set<string>()
  for (const rule of rules) for (const claim of Object.keys(rule.person?.claims ?? {})) names.add(claim)
  return [...names]
}
