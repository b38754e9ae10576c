import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server'
import { randomBytes } from 'node:crypto'
import { epochSeconds } from '../../clock.js'
import type { InboxDeps } from './deps.js'
import { signInChallenge } from './sign-in-challenge.js'

/**
 * Starts an inbox sign-in: a fresh nonce and expiry (`approvals.challengeTtlSeconds`), the
 * challenge computed from them (`signInChallenge`), stored in the inbox store for single use, and
 * the options for `navigator.credentials.get`. `allowCredentials` is empty: the approver picks
 * their own discoverable key, and the page learns nothing about who is enrolled. User
 * verification is required, as at every approval.
 */
export async function startSignIn(deps: InboxDeps): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const { settings, clock } = deps.approvals
  const now = epochSeconds(clock)
  const nonce = randomBytes(16).toString('base64url')
  const exp = now + settings.challengeTtlSeconds
  const challenge = signInChallenge({ rp_id: settings.rpId, exp, nonce })
  await deps.store.putChallenge({ challenge, nonce, exp })
  return {
    challenge,
    rpId: settings.rpId,
    timeout: settings.challengeTtlSeconds * 1000,
    userVerification: 'required',
    allowCredentials: [],
  }
}
