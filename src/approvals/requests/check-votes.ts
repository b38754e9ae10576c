import type { ApprovalRequirement, Policy } from '../../policy/index.js'
import type { ApprovalDeps } from '../deps.js'
import { eligibleRequirements } from './eligible-requirements.js'
import type { ApprovalRequest, ApprovalVote } from '../types.js'

/** A recorded vote that no longer counts, and why. */
export interface DroppedVote {
  vote: ApprovalVote
  reason: string
}

/** The recorded votes split into those that still count and those that no longer do. */
export interface VoteCheck {
  counting: ApprovalVote[]
  dropped: DroppedVote[]
}

/**
 * Which recorded votes the broker would still accept now: a vote counts only while its key is
 * enrolled to the same person and unflagged (not disabled, no counter regression), and its person
 * is still an approver for one of the request's rules under the current policy (in the group, and
 * not the requester where self-approval is forbidden).
 */
export async function checkVotes(
  deps: Pick<ApprovalDeps, 'store' | 'policy'>,
  request: ApprovalRequest,
  votes: readonly ApprovalVote[],
): Promise<VoteCheck> {
  const requestedBy = request.manifest.task.requested_by
  const keys = await Promise.all(votes.map((v) => deps.store.getCredential(v.credentialId)))
  const counting: ApprovalVote[] = []
  const dropped: DroppedVote[] = []
  votes.forEach((vote, i) => {
    const key = keys[i]
    // Ensure a vote counts only while its key is enrolled to its person and not flagged.
    if (!key || key.sub !== vote.sub) {
      dropped.push({ vote, reason: 'the key is no longer enrolled' })
    } else if (key.flagged) {
      dropped.push({ vote, reason: `the key is flagged (${key.flagged.reason})` })
    } else if (eligibleRequirements(deps.policy(), request.requirements, requestedBy, vote.sub).length === 0) {
      // Ensure a vote counts only while its person may still approve this request.
      dropped.push({ vote, reason: `${vote.sub} is no longer an approver for this request` })
    } else {
      counting.push(vote)
    }
  })
  return { counting, dropped }
}

/**
 * Whether the current policy still has enough people who may approve for every rule to be met
 * (members of each rule's group, less the requester where self-approval is forbidden).
 */
export function canStillComplete(
  policy: Policy,
  requirements: readonly ApprovalRequirement[],
  requestedBy: string | undefined,
): boolean {
  return requirements.every((requirement) => {
    const members = policy.approverGroups.get(requirement.from)?.members ?? []
    const eligible = new Set(
      members.filter((m) => eligibleRequirements(policy, [requirement], requestedBy, m).length > 0),
    )
    return eligible.size >= requirement.approvers
  })
}
