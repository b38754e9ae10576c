import { verifyRegistrationResponse } from '@simplewebauthn/server'
import { decodeAttestationObject } from '@simplewebauthn/server/helpers'
import { WritError } from '../../errors.js'
import { checkAttestation } from './check-attestation.js'
import type { TrustAnchors } from './load-trust-anchors.js'
import { KEY_ALGORITHMS } from './start-enrolment.js'
import { assertStrictAttestationObject } from '../ceremony/strict-encoding.js'

/** An `approver.enrolled` event as an audit chain export holds it (its fields, camel-cased). */
export interface EnrolmentRecord {
  /** The event's seq and time in the chain. */
  seq: number
  time: string
  approver: string
  credentialId: string
  aaguid: string
  /** COSE_Key, base64url. */
  publicKey: string
  /** Attestation object and clientDataJSON of the registration, base64url. */
  attestationObject: string
  clientDataJSON: string
}

export interface VerifyEnrolmentRecordOptions {
  /** The auditor's attestation trust anchors (root certificates and/or a FIDO MDS BLOB). */
  trust: TrustAnchors
  /** Authenticator models the auditor accepts (lowercase AAGUIDs); absent: any anchored model. */
  allowedAaguids?: ReadonlySet<string>
  /** The WebAuthn relying party and origin the registration must have been made for. */
  rpId: string
  origin: string
}

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err))

/**
 * Re-checks offline that an enrolment record is a genuine registration of its key: its attestation
 * object is one well-formed CBOR item whose statement signature verifies (over its authenticator
 * data and the hash of its clientDataJSON, of type `webauthn.create` from `origin`), for `rpId`,
 * with user presence and verification; the credential id, public key and AAGUID it attests are
 * the ones the record names; and, in strict mode whatever the broker ran with, the statement is a
 * direct attestation (packed, tpm, fido-u2f) whose x5c chain leads to one of the auditor's trust
 * anchors (valid at the record's time), from a model not reported compromised. A key put under a
 * real approver's credential id cannot pass: no genuine authenticator attests a chosen credential
 * id. The registration challenge is not checked: it proved freshness to the broker at enrolment.
 *
 * Never throws: returns the first problem, in words, or null when the record holds.
 *
 * @example
 * const problem = await verifyEnrolmentRecord(record, { trust, rpId: evidence.rpId, origin: evidence.origin })
 * if (problem) console.error(`key ${record.credentialId}: ${problem}`)
 */
export async function verifyEnrolmentRecord(
  record: EnrolmentRecord,
  options: VerifyEnrolmentRecordOptions,
): Promise<string | null> {
  let info
  try {
    // Ensure the attestation object is in its one encoding (as enrolment itself requires).
    assertStrictAttestationObject(record.attestationObject)
    const verified = await verifyRegistrationResponse({
      response: {
        id: record.credentialId,
        rawId: record.credentialId,
        type: 'public-key',
        response: { clientDataJSON: record.clientDataJSON, attestationObject: record.attestationObject },
        clientExtensionResults: {},
      },
      expectedChallenge: () => true,
      expectedOrigin: options.origin,
      expectedRPID: options.rpId,
      expectedType: 'webauthn.create',
      requireUserPresence: true,
      requireUserVerification: true,
      supportedAlgorithmIDs: [...KEY_ALGORITHMS],
    })
    if (!verified.verified) return 'its attestation statement does not verify'
    info = verified.registrationInfo
  } catch (err) {
    return `its registration does not verify: ${describe(err)}`
  }
  // Ensure the authenticator attested exactly this credential id, key and model.
  if (info.credential.id !== record.credentialId) {
    return `its attestation is for credential id ${info.credential.id}, not ${record.credentialId}`
  }
  if (Buffer.compare(Buffer.from(info.credential.publicKey), Buffer.from(record.publicKey, 'base64url')) !== 0) {
    return 'its recorded public key is not the one its attestation carries'
  }
  if (info.aaguid.toLowerCase() !== record.aaguid.toLowerCase()) {
    return `its attestation is from AAGUID ${info.aaguid}, not the recorded ${record.aaguid}`
  }
  const nowMs = Date.parse(record.time)
  if (!Number.isFinite(nowMs)) return `its time ${JSON.stringify(record.time)} is not a time`
  const aaguid = record.aaguid.toLowerCase()
  try {
    // Ensure the attestation chains to one of the auditor's trust anchors, as it stood at enrolment.
    const x5c = decodeAttestationObject(info.attestationObject).get('attStmt').get('x5c')
    checkAttestation(
      // Without an allow-list of its own, the auditor accepts any model its anchors vouch for.
      { mode: 'strict', allowedAaguids: options.allowedAaguids ?? new Set([aaguid]), trust: options.trust },
      { fmt: info.fmt, aaguid, x5c, nowMs },
    )
  } catch (err) {
    const detail = err instanceof WritError && err.detail ? ` (${err.detail})` : ''
    return `its attestation is not trusted: ${describe(err)}${detail}`
  }
  return null
}
