import type { ApprovalRequirement, Policy } from '../../policy/index.js'
import { samePerson } from '../../text/same-person.js'

/**
 * Whether a person belongs to the approver group of any of the requirements, in the policy as it
 * is now: such a person may deny the request (even their own; only approving it may be forbidden).
 */
export function isApproverFor(
  policy: Policy,
  requirements: readonly ApprovalRequirement[],
  sub: string,
): boolean {
  return requirements.some(
    (r) => policy.approverGroups.get(r.from)?.members.some((member) => samePerson(member, sub)) ?? false,
  )
}
