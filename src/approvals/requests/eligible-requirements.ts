import type { ApprovalRequirement, Policy } from '../../policy/index.js'
import { samePerson } from '../../text/same-person.js'

/**
 * The requirements an approver's approval counts toward: those whose approver group (in the
 * policy as it is now) lists the person, minus those that forbid self-approval when the person is
 * the task's `requested_by`. Empty: this person cannot approve this request.
 *
 * Group membership is read from the current policy on every decision, so removing someone from
 * a group stops them approving at once. People compare in their normal form (`samePerson`):
 * `Carol@Example.com.` asking and `carol@example.com` approving are the same person.
 */
export function eligibleRequirements(
  policy: Policy,
  requirements: readonly ApprovalRequirement[],
  requestedBy: string | undefined,
  sub: string,
): ApprovalRequirement[] {
  return requirements.filter((requirement) => {
    const group = policy.approverGroups.get(requirement.from)
    // Ensure only members of the rule's approver group count.
    if (!group || !group.members.some((member) => samePerson(member, sub))) return false
    // Ensure the person who asked for the task cannot approve it when the rule forbids it.
    if (requirement.forbidSelfApproval && requestedBy !== undefined && samePerson(requestedBy, sub)) {
      return false
    }
    return true
  })
}
