import { type AuthenticationResponseJSON, verifyAuthenticationResponse } from '@simplewebauthn/server'
import { epochSeconds } from '../../clock.js'
import { assertionRefused } from '../approval-errors.js'
import type { ApprovalDeps } from '../deps.js'
import type { ApproverCredentialState } from '../types.js'
import { assertCanonicalAssertionSignature } from './strict-encoding.js'

const MAX_CLIENT_DATA_BYTES = 8192

/**
 * The challenge a browser put in clientDataJSON (unverified: only used to find the stored one).
 *
 * @throws WritError `access_denied` (403) when there is none or clientDataJSON is too large.
 */
export function claimedChallenge(clientDataJSON: string): string {
  const raw = Buffer.from(clientDataJSON, 'base64url')
  if (raw.length > MAX_CLIENT_DATA_BYTES) throw assertionRefused('clientDataJSON is too large')
  try {
    const parsed = JSON.parse(raw.toString('utf8')) as { challenge?: unknown }
    if (typeof parsed.challenge === 'string' && /^[A-Za-z0-9_-]{1,128}$/.test(parsed.challenge)) {
      return parsed.challenge
    }
  } catch {
    // fall through
  }
  throw assertionRefused('clientDataJSON has no usable challenge')
}

/** An enrolled key whose signature over the expected challenge verified. */
export interface VerifiedKeyAssertion {
  key: ApproverCredentialState
  /** The signature counter the assertion carried (not yet recorded: see {@link advanceKeyCounter}). */
  newCounter: number
}

/**
 * Checks that `response` is an assertion by an enrolled key over `expectedChallenge`: the
 * signature is in its one encoding and verifies under the enrolled public key, over authenticator
 * data for this RP ID with user presence and user verification, and client data of type
 * `webauthn.get` from this origin. Every ceremony that signs with an approver's key (approving,
 * denying, consenting to an authorization request) goes through here.
 *
 * It decides nothing about who may do what, and does not move the counter: the caller checks
 * {@link keyRefusal} and calls {@link advanceKeyCounter}.
 *
 * @throws WritError `access_denied` (403) when the key is not enrolled or the assertion does not
 *   verify (the reason in `detail`).
 */
export async function verifyKeyAssertion(
  deps: Pick<ApprovalDeps, 'store' | 'settings'>,
  response: AuthenticationResponseJSON,
  expectedChallenge: string,
): Promise<VerifiedKeyAssertion> {
  const key = await deps.store.getCredential(response.id)
  // Ensure the key is enrolled.
  if (!key) throw assertionRefused(`credential ${response.id} is not enrolled`)

  // Ensure the signature, RP ID, origin, type, user presence and user verification all hold.
  // The counter is checked by the store (atomically), so the library's check is disabled with 0.
  try {
    const publicKey = Buffer.from(key.publicKey, 'base64url')
    // Ensure an ECDSA signature is in its one DER encoding (the library accepts re-encodings).
    assertCanonicalAssertionSignature(publicKey, response.response.signature)
    const verified = await verifyAuthenticationResponse({
      response,
      expectedChallenge,
      expectedOrigin: deps.settings.origin,
      expectedRPID: deps.settings.rpId,
      expectedType: 'webauthn.get',
      requireUserVerification: true,
      credential: { id: key.id, publicKey, counter: 0 },
    })
    if (!verified.verified) throw new Error('signature does not verify under the enrolled key')
    return { key, newCounter: verified.authenticationInfo.newCounter }
  } catch (err) {
    throw assertionRefused(err instanceof Error ? err.message : String(err))
  }
}

/**
 * Why a verified assertion's key may not be used, or undefined: the user handle it returned is
 * not the one enrolled with the key, or the key is flagged (cloned, lost or stolen).
 */
export function keyRefusal(key: ApproverCredentialState, response: AuthenticationResponseJSON): string | undefined {
  if (response.response.userHandle && response.response.userHandle !== key.userHandle) {
    return 'userHandle does not match the enrolled key'
  }
  if (key.flagged) return `key is flagged (${key.flagged.reason})`
  return undefined
}

/**
 * Moves the key's signature counter to the assertion's, atomically; a counter that went backwards
 * means a cloned key: the key is flagged (logged and audited as `approver.key_flagged`).
 * `on` names what the assertion was for, in the flag's detail (`{ approval: id }`,
 * `{ authorization: id }` or `{ signIn: nonce }`). Returns why the key may not be used, or
 * undefined when it moved.
 */
export async function advanceKeyCounter(
  deps: Pick<ApprovalDeps, 'store' | 'clock' | 'logger' | 'audit'>,
  key: ApproverCredentialState,
  newCounter: number,
  on: { approval: string } | { authorization: string } | { signIn: string },
): Promise<string | undefined> {
  const [what, id] =
    'approval' in on
      ? ['approval', on.approval]
      : 'authorization' in on
        ? ['authorization', on.authorization]
        : ['signIn', on.signIn]
  const use = await deps.store.useCredential(key.id, newCounter, {
    reason: 'counter_regression',
    at: epochSeconds(deps.clock),
    detail: `counter ${newCounter} after ${key.currentCounter} on ${what} ${id}`,
  })
  if (use === 'regressed') {
    deps.logger.warn('security key flagged: signature counter went backwards', {
      credentialId: key.id,
      sub: key.sub,
      counter: newCounter,
      previous: key.currentCounter,
      [`${what}Id`]: id,
    })
    await deps.audit.note({
      type: 'approver.key_flagged',
      actor: 'system',
      approver: key.sub,
      credential_id: key.id,
      aaguid: key.aaguid,
      reason: 'counter_regression',
      detail: { counter: newCounter, previous_counter: key.currentCounter, [what]: id },
    })
    return `signature counter regressed (${newCounter} after ${key.currentCounter}); key flagged`
  }
  if (use !== 'ok') return `credential state is ${use}`
  return undefined
}
