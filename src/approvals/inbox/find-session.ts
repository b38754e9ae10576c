import { lockTarget } from '../../locks/types.js'
import type { InboxDeps } from './deps.js'
import { isSessionToken, sessionTokenSha256 } from './session-token.js'
import type { ApproverSession } from './store.js'

/**
 * The live session a token names, or null. A session counts only while it is unexpired, its key
 * is still enrolled to the same person and not flagged (disabling the key ends every session it
 * opened, on every replica, at the next request), and the person is not locked.
 */
export async function findSession(deps: InboxDeps, token: string | undefined): Promise<ApproverSession | null> {
  if (token === undefined || !isSessionToken(token)) return null
  const hash = sessionTokenSha256(token)
  const session = await deps.store.getSession(hash)
  if (!session) return null
  // Ensure the key that signed in is still enrolled to this person and usable.
  const key = await deps.approvals.store.getCredential(session.credentialId)
  if (!key || key.flagged || key.sub !== session.sub) {
    await deps.store.deleteSession(hash)
    return null
  }
  // Ensure a locked approver sees nothing.
  if (await deps.approvals.locks.findLock([lockTarget('approver', session.sub)])) return null
  return session
}
