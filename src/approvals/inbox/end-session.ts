import type { InboxDeps } from './deps.js'
import { isSessionToken, sessionTokenSha256 } from './session-token.js'

/** Signs out: the session the token names ends at once. */
export async function endSession(deps: InboxDeps, token: string | undefined): Promise<void> {
  if (token === undefined || !isSessionToken(token)) return
  await deps.store.deleteSession(sessionTokenSha256(token))
}
