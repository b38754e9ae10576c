import { lockTargetsOf } from '../../locks/types.js'
import type { AuthorizationDetail, TaskInfo } from '../../manifest/types.js'
import { samePerson } from '../../text/same-person.js'
import { eligibleRequirements } from '../requests/eligible-requirements.js'
import type { InboxDeps } from './deps.js'

/** One request in an approver's inbox: enough to pick it; its page shows the rest. */
export interface InboxItem {
  id: string
  clientId: string
  task: TaskInfo
  grants: AuthorizationDetail[]
  /** Seconds since the epoch. */
  createdAt: number
  expiresAt: number
  /** Approvals recorded so far, and how many the rules need in all. */
  approvals: number
  approvalsNeeded: number
}

/** Most pending requests read for one inbox. */
export const INBOX_SCAN_LIMIT = 1000

/**
 * The pending requests `sub` may approve now, newest first: unexpired and pending, with at least
 * one rule whose approver group (in the policy as it is now) lists the person and that lets them
 * approve (not the requester where self-approval is forbidden) — the check the approval itself
 * makes —, not yet approved by them, and for no locked client or task. Reads at most
 * {@link INBOX_SCAN_LIMIT} pending requests (those expiring soonest).
 */
export async function listInbox(deps: InboxDeps, sub: string): Promise<InboxItem[]> {
  const { store, locks } = deps.approvals
  const policy = deps.approvals.policy()
  const pending = await store.listPending(INBOX_SCAN_LIMIT)
  const items: InboxItem[] = []
  for (const { request, votes } of pending) {
    // Ensure only requests this person may approve are listed (groups, self-approval).
    if (eligibleRequirements(policy, request.requirements, request.manifest.task.requested_by, sub).length === 0) continue
    // Ensure a request this person has approved already is not offered again.
    if (votes.some((vote) => samePerson(vote.sub, sub))) continue
    // Ensure nothing is offered that a lock would refuse.
    if (await locks.findLock(lockTargetsOf({ clientId: request.clientId, taskId: request.manifest.task.id }))) continue
    items.push({
      id: request.id,
      clientId: request.clientId,
      task: request.manifest.task,
      grants: request.manifest.grants,
      createdAt: request.createdAt,
      expiresAt: request.expiresAt,
      approvals: votes.length,
      approvalsNeeded: request.requirements.reduce((sum, r) => sum + r.approvers, 0),
    })
  }
  return items.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}
