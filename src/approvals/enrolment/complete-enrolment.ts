import { verifyRegistrationResponse } from '@simplewebauthn/server'
import { decodeAttestationObject } from '@simplewebauthn/server/helpers'
import { epochSeconds } from '../../clock.js'
import { WritError } from '../../errors.js'
import { assertionRefused } from '../approval-errors.js'
import { checkAttestation } from './check-attestation.js'
import { coseKeyThumbprint } from './cose-key-thumbprint.js'
import type { ApprovalDeps } from '../deps.js'
import { findInvite } from './find-invite.js'
import { assertStrictAttestationObject } from '../ceremony/strict-encoding.js'
import { KEY_ALGORITHMS } from './start-enrolment.js'
import type { ApproverCredential } from '../types.js'
import { webauthnJson } from '../ceremony/webauthn-json.js'

/** What enrolment registered. */
export interface EnrolledKey {
  approver: string
  group: string
  credentialId: string
  aaguid: string
  fmt: string
  attestation: 'verified' | 'relaxed'
  /** Set in dev mode when strict mode would have refused the key, saying why. */
  warning?: string
}

/**
 * Completes enrolment: verifies the registration made with the invite's challenge and applies the
 * attestation policy, then consumes the invite and stores the key in one atomic step. In order:
 *
 * 1. the invite is live and its person still an approver; its registration challenge is taken
 *    (single use);
 * 2. the registration is verified for this challenge, origin and RP ID, with user presence and
 *    user verification, an accepted key algorithm, and a valid attestation statement signature; the
 *    attestation object must be well-formed CBOR and an ECDSA signature in its one DER encoding;
 * 3. the attestation policy (`checkAttestation`): direct attestation in packed, tpm or fido-u2f,
 *    an x5c chain to a configured trust anchor, an allowed AAGUID not reported compromised;
 * 4. the key is stored and the invite consumed together; a key id already enrolled is refused.
 *
 * Recorded as `approver.enrolled` once the key is stored, with the key (COSE), its thumbprint and
 * the attestation (attestation object and clientDataJSON): the record approval evidence is later
 * checked against. When that event cannot be written the key is disabled at once and the
 * enrolment fails with 503: no key approves anything without its enrolment on record.
 *
 * @throws WritError `not_found` (404) for a bad invite, `access_denied` (403) for a refused
 *   registration or key, `invalid_request` (400) for malformed JSON, `temporarily_unavailable`
 *   (503) when the audit log cannot take the enrolment.
 */
export async function completeEnrolment(
  deps: ApprovalDeps,
  input: { token: string; response: unknown },
): Promise<EnrolledKey> {
  const { settings, store } = deps
  const response = webauthnJson.registration(input.response)
  const invite = await findInvite(deps, input.token)
  // Ensure the registration answers a challenge this invite was given, once.
  const challenge = await store.takeRegistrationChallenge(invite.tokenSha256)
  if (!challenge) throw assertionRefused('no live registration challenge for this invite')

  let info
  try {
    // Ensure the attestation object is one well-formed CBOR item, and an ECDSA statement signature
    // in its one DER encoding (the library takes truncated, padded and re-encoded ones).
    assertStrictAttestationObject(response.response.attestationObject)
    const verified = await verifyRegistrationResponse({
      response,
      expectedChallenge: challenge.challenge,
      expectedOrigin: settings.origin,
      expectedRPID: settings.rpId,
      expectedType: 'webauthn.create',
      requireUserPresence: true,
      requireUserVerification: true,
      supportedAlgorithmIDs: [...KEY_ALGORITHMS],
    })
    if (!verified.verified) throw new Error('the attestation statement does not verify')
    info = verified.registrationInfo
  } catch (err) {
    throw new WritError('access_denied', 403, 'the security key registration was not accepted', {
      detail: err instanceof Error ? err.message : String(err),
    })
  }

  const x5c = decodeAttestationObject(info.attestationObject).get('attStmt').get('x5c')
  const verdict = checkAttestation(deps.attestation, {
    fmt: info.fmt,
    aaguid: info.aaguid,
    x5c,
    nowMs: deps.clock(),
  })
  if (verdict.attestation === 'relaxed') {
    deps.logger.warn('DEV MODE: enrolled a security key strict attestation would refuse', {
      approver: invite.sub,
      reason: verdict.wouldRefuse,
    })
  }

  const credential: ApproverCredential = {
    id: info.credential.id,
    sub: invite.sub,
    group: invite.group,
    publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
    counter: info.credential.counter,
    aaguid: info.aaguid.toLowerCase(),
    fmt: info.fmt,
    attestation: verdict.attestation,
    attestationObject: Buffer.from(info.attestationObject).toString('base64url'),
    userHandle: challenge.userHandle,
    ...(info.credential.transports ? { transports: [...info.credential.transports] } : {}),
    enrolledAt: epochSeconds(deps.clock),
  }
  const thumbprint = await coseKeyThumbprint(info.credential.publicKey)
  // Ensure the invite is consumed by exactly this registration, and a key is enrolled once.
  const outcome = await store.enrol(invite, credential)
  if (outcome === 'invite_used') {
    throw new WritError('not_found', 404, 'this enrolment invite is unknown, used or expired; ask an admin for a new one')
  }
  if (outcome === 'credential_exists') {
    throw new WritError('access_denied', 403, 'this security key is already enrolled')
  }
  deps.logger.info('security key enrolled', {
    approver: credential.sub,
    group: credential.group,
    credentialId: credential.id,
    aaguid: credential.aaguid,
    publicKeyThumbprint: thumbprint,
    fmt: credential.fmt,
    attestation: credential.attestation,
  })
  try {
    // Ensure the key is on record in the audit chain (its key and attestation) before it counts:
    // approval evidence is checked against this record, so a key without one may approve nothing.
    await deps.audit.record({
      type: 'approver.enrolled',
      actor: `approver:${credential.sub}`,
      approver: credential.sub,
      credential_id: credential.id,
      aaguid: credential.aaguid,
      public_key: credential.publicKey,
      public_key_thumbprint: thumbprint,
      attestation_object: credential.attestationObject,
      client_data_json: response.response.clientDataJSON,
      detail: { group: credential.group, fmt: credential.fmt, attestation: credential.attestation },
    })
  } catch (err) {
    const flag = {
      reason: 'disabled' as const,
      at: epochSeconds(deps.clock),
      detail: 'its enrolment could not be written to the audit log: enrol again',
    }
    await store.flagCredential(credential.id, flag).catch((flagErr: unknown) => {
      deps.logger.error('a key enrolled without its audit record could not be disabled', {
        credentialId: credential.id,
        err: flagErr instanceof Error ? flagErr.message : String(flagErr),
      })
    })
    throw err
  }
  return {
    approver: credential.sub,
    group: credential.group,
    credentialId: credential.id,
    aaguid: credential.aaguid,
    fmt: credential.fmt,
    attestation: credential.attestation,
    ...(verdict.attestation === 'relaxed' ? { warning: verdict.wouldRefuse } : {}),
  }
}
