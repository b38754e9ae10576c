import { WritError } from '../../errors.js'
import { samePerson } from '../../text/same-person.js'
import { inviteTokenHash } from './create-enrolment-invite.js'
import type { ApprovalDeps } from '../deps.js'
import type { EnrolmentInvite } from '../types.js'

const TOKEN = /^[A-Za-z0-9_-]{43}$/

/**
 * The unused, unexpired invite for a token, whose person is still a member of its group.
 *
 * @throws WritError `not_found` (404), the same for every reason, so tokens cannot be probed.
 */
export async function findInvite(deps: ApprovalDeps, token: string): Promise<EnrolmentInvite> {
  const gone = new WritError('not_found', 404, 'this enrolment invite is unknown, used or expired; ask an admin for a new one')
  if (!TOKEN.test(token)) throw gone
  const invite = await deps.store.getInvite(inviteTokenHash(token))
  if (!invite) throw gone
  // Ensure the person is still an approver in the policy as it is now.
  const members = deps.policy().approverGroups.get(invite.group)?.members ?? []
  if (!members.some((member) => samePerson(member, invite.sub))) throw gone
  return invite
}
