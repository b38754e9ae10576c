import { createHash, randomBytes } from 'node:crypto'
import type { AuditActor } from '../../audit/types.js'
import { epochSeconds } from '../../clock.js'
import { invalidRequest } from '../../errors.js'
import { approverId } from '../requests/approver-id.js'
import type { ApprovalDeps } from '../deps.js'
import type { EnrolmentInvite } from '../types.js'

export interface CreateEnrolmentInviteInput {
  /** The person, as the approver group lists them (compared in their normal form). */
  approver: string
  /** The approver group (policy `approver_groups[].id`) the person belongs to. */
  group: string
  /** Who created the invite (for the log and the audit trail). */
  createdBy: AuditActor
}

export interface CreatedInvite {
  /** The one-time secret; shown once, stored only as a hash. */
  token: string
  /** The enrolment page to send the person. */
  url: string
  approver: string
  group: string
  expiresAt: number
}

/** SHA-256 (hex) of an invite token, the only form in which it is stored. */
export const inviteTokenHash = (token: string): string =>
  createHash('sha256').update(token, 'utf8').digest('hex')

/**
 * Creates a one-time enrolment invite for a person of an approver group: a 256-bit token whose
 * hash is stored until `approvals.inviteTtlSeconds` pass. The person opens `/enroll/{token}` and
 * registers a security key there; the invite is consumed by the successful registration. Audited
 * as `approver.invited`.
 *
 * @throws WritError `invalid_request` (400) naming `group` (unknown) or `approver` (not a member).
 */
export async function createEnrolmentInvite(
  deps: ApprovalDeps,
  input: CreateEnrolmentInviteInput,
): Promise<CreatedInvite> {
  const group = deps.policy().approverGroups.get(input.group)
  // Ensure keys are enrolled only for people the policy names as approvers.
  if (!group) throw invalidRequest(`group: unknown approver group "${input.group}"`)
  // Ensure the key is enrolled under the one spelling every approver index uses.
  const sub = approverId(input.approver)
  if (!group.members.includes(sub)) {
    throw invalidRequest(`approver: ${sub} is not a member of approver group ${group.id}`)
  }
  const token = randomBytes(32).toString('base64url')
  const now = epochSeconds(deps.clock)
  const invite: EnrolmentInvite = {
    tokenSha256: inviteTokenHash(token),
    sub,
    group: group.id,
    createdBy: input.createdBy,
    createdAt: now,
    expiresAt: now + deps.settings.inviteTtlSeconds,
  }
  await deps.store.createInvite(invite)
  deps.logger.info('enrolment invite created', { approver: invite.sub, group: invite.group, by: invite.createdBy })
  await deps.audit.note({
    type: 'approver.invited',
    actor: input.createdBy,
    approver: invite.sub,
    detail: { group: invite.group, expires_at: invite.expiresAt },
  })
  return {
    token,
    url: `${deps.settings.baseUrl}/enroll/${token}`,
    approver: invite.sub,
    group: invite.group,
    expiresAt: invite.expiresAt,
  }
}
