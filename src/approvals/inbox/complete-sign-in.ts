import { epochSeconds } from '../../clock.js'
import { WritError } from '../../errors.js'
import { lockRefusal } from '../../locks/lock-refusal.js'
import { lockTarget } from '../../locks/types.js'
import { samePerson } from '../../text/same-person.js'
import { webauthnJson } from '../ceremony/webauthn-json.js'
import { advanceKeyCounter, claimedChallenge, keyRefusal, verifyKeyAssertion } from '../ceremony/verify-key-assertion.js'
import type { InboxDeps } from './deps.js'
import { signInChallenge } from './sign-in-challenge.js'
import { newSessionToken, sessionTokenSha256 } from './session-token.js'
import type { ApproverSession } from './store.js'

/** The one client-facing message for a sign-in assertion that is not accepted; the reason goes to `detail`. */
export const SIGN_IN_REFUSED = 'the security key response was not accepted for signing in'

const signInRefused = (detail: string | undefined): WritError =>
  new WritError('access_denied', 403, SIGN_IN_REFUSED, detail === undefined ? {} : { detail })

/** A signed-in approver: the session, and the token that names it (for the cookie; never stored). */
export interface SignedIn {
  token: string
  session: ApproverSession
}

/**
 * Verifies an inbox sign-in assertion and opens a session. The checks, in order (each failure
 * refuses the assertion; no session is opened):
 *
 * 1. the challenge named in clientDataJSON was issued for a sign-in and is taken from the inbox
 *    store atomically (single use; an approval's or a consent's challenge is never there);
 * 2. it equals the challenge recomputed from the stored nonce and expiry (`signInChallenge`);
 * 3. an enrolled key signed it (signature in its one encoding, RP ID, origin, user presence and
 *    user verification), its user handle is the enrolled one, and it is not flagged or disabled;
 * 4. the key's owner is not locked and is a member of an approver group in the policy now;
 * 5. the key's signature counter moves forward (a regression flags the key).
 *
 * The session lasts `sessionSeconds`, is bound to the person and the key, and only lists: each
 * approval still needs that request's own ceremony. Audited as `approver.signed_in` (durably,
 * before the session's token leaves) or, after step 3, `approver.sign_in_refused`.
 *
 * @throws WritError `access_denied` (403) for a refused assertion or person, `invalid_request`
 *   (400) for a malformed credential.
 */
export async function completeSignIn(deps: InboxDeps, body: unknown): Promise<SignedIn> {
  const { approvals } = deps
  const response = webauthnJson.authentication(body)

  // Ensure the challenge was issued for a sign-in, and use it up whatever happens next.
  const claimed = claimedChallenge(response.response.clientDataJSON)
  const stored = await deps.store.takeChallenge(claimed)
  if (!stored) throw signInRefused('sign-in challenge unknown, already used, or expired')
  // Ensure the challenge is the one this nonce and expiry produce for a sign-in.
  const expected = signInChallenge({ rp_id: approvals.settings.rpId, exp: stored.exp, nonce: stored.nonce })
  if (expected !== stored.challenge || expected !== claimed) {
    throw signInRefused('challenge does not match the one recomputed for this sign-in')
  }
  // Ensure an enrolled key signed exactly this challenge (signature, RP ID, origin, UP, UV).
  let verified
  try {
    verified = await verifyKeyAssertion(approvals, response, expected)
  } catch (err) {
    throw err instanceof WritError && err.code === 'access_denied' ? signInRefused(err.detail) : err
  }
  const { key, newCounter } = verified

  // From here an enrolled key signed a sign-in challenge: what is refused is audited.
  const refused = async (err: WritError, reason: string): Promise<WritError> => {
    await approvals.audit.note({
      type: 'approver.sign_in_refused',
      actor: `approver:${key.sub}`,
      approver: key.sub,
      credential_id: key.id,
      aaguid: key.aaguid,
      reason,
    })
    return err
  }
  // Ensure the user handle is the enrolled one and the key is not flagged (disabled or cloned).
  const refusal = keyRefusal(key, response)
  if (refusal) throw await refused(signInRefused(refusal), refusal)
  // Ensure a locked approver opens nothing.
  const lock = await approvals.locks.findLock([lockTarget('approver', key.sub)])
  if (lock) throw await refused(lockRefusal(lock), `locked (lock ${lock.id}: ${lock.reason})`)
  // Ensure only a current member of an approver group has an inbox.
  const member = [...approvals.policy().approverGroups.values()].some((group) =>
    group.members.some((m) => samePerson(m, key.sub)),
  )
  if (!member) {
    const reason = 'not a member of any approver group'
    throw await refused(new WritError('access_denied', 403, `${key.sub} is ${reason}`), reason)
  }
  // Ensure the counter moves forward; a regression means a cloned key: refuse and flag it.
  const counterRefusal = await advanceKeyCounter(approvals, key, newCounter, { signIn: stored.nonce })
  if (counterRefusal) throw await refused(signInRefused(counterRefusal), counterRefusal)

  const now = epochSeconds(approvals.clock)
  const session: ApproverSession = {
    sub: key.sub,
    credentialId: key.id,
    createdAt: now,
    expiresAt: now + deps.sessionSeconds,
  }
  const token = newSessionToken()
  await deps.store.putSession(sessionTokenSha256(token), session)
  // Ensure every session is on the audit record before its token leaves.
  await approvals.audit.record({
    type: 'approver.signed_in',
    actor: `approver:${key.sub}`,
    approver: key.sub,
    credential_id: key.id,
    aaguid: key.aaguid,
    detail: { expires_at: session.expiresAt },
  })
  approvals.logger.info('approver signed in to the inbox', { sub: key.sub, credentialId: key.id })
  return { token, session }
}
