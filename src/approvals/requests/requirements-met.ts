import type { ApprovalRequirement, Policy } from '../../policy/index.js'
import { eligibleRequirements } from './eligible-requirements.js'

/** The part of an approval that counts: who approved, with which key. */
export interface CountedApproval {
  sub: string
  credentialId: string
}

/**
 * Whether a set of approvals meets every requirement: for each rule, at least `approvers`
 * distinct people of its group (not counting the requester where the rule forbids
 * self-approval), each on a distinct key. A person or a key that appears twice counts once.
 *
 * @example
 * requirementsMet(policy, [{ ruleId: 'deploy', approvers: 2, from: 'sre', ... }], 'carol@x',
 *   [{ sub: 'alice@x', credentialId: 'k1' }, { sub: 'bob@x', credentialId: 'k2' }]) // true
 */
export function requirementsMet(
  policy: Policy,
  requirements: readonly ApprovalRequirement[],
  requestedBy: string | undefined,
  approvals: readonly CountedApproval[],
): boolean {
  return requirements.every((requirement) => {
    const people = new Set<string>()
    const keys = new Set<string>()
    for (const approval of approvals) {
      // Ensure one person, or one key, never counts twice toward a rule.
      if (people.has(approval.sub) || keys.has(approval.credentialId)) continue
      if (eligibleRequirements(policy, [requirement], requestedBy, approval.sub).length === 0) continue
      people.add(approval.sub)
      keys.add(approval.credentialId)
    }
    return people.size >= requirement.approvers
  })
}
