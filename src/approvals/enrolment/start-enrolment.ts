import type { PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/server'
import { randomBytes } from 'node:crypto'
import { epochSeconds } from '../../clock.js'
import type { ApprovalDeps } from '../deps.js'
import { findInvite } from './find-invite.js'

/** COSE algorithms accepted for approver keys: ES256, EdDSA, RS256. */
export const KEY_ALGORITHMS = [-7, -8, -257] as const

/**
 * Starts registering a security key with an enrolment invite: a fresh challenge stored for the
 * invite (replacing any earlier one; single use), and the options for
 * `navigator.credentials.create`: `direct` attestation, user verification required, the
 * approver's existing keys excluded.
 *
 * @throws WritError `not_found` (404) for an unknown, used or expired invite.
 */
export async function startEnrolment(
  deps: ApprovalDeps,
  token: string,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const { settings } = deps
  const invite = await findInvite(deps, token)
  const now = epochSeconds(deps.clock)
  const challenge = randomBytes(32).toString('base64url')
  const userHandle = randomBytes(16).toString('base64url')
  const exp = Math.min(now + settings.challengeTtlSeconds, invite.expiresAt)
  await deps.store.putRegistrationChallenge(invite.tokenSha256, { challenge, userHandle, exp })
  const existing = await deps.store.listCredentials({ sub: invite.sub })
  return {
    challenge,
    rp: { id: settings.rpId, name: settings.rpName },
    user: { id: userHandle, name: invite.sub, displayName: invite.sub },
    pubKeyCredParams: KEY_ALGORITHMS.map((alg) => ({ type: 'public-key' as const, alg })),
    timeout: Math.max(1, exp - now) * 1000,
    attestation: 'direct',
    excludeCredentials: existing.map((key) => ({ id: key.id, type: 'public-key' as const })),
    authenticatorSelection: { userVerification: 'required', residentKey: 'preferred', requireResidentKey: false },
  }
}
