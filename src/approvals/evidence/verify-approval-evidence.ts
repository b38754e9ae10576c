import { verifyAuthenticationResponse } from '@simplewebauthn/server'
import { manifestSha256 } from '../../manifest/index.js'
import type { Policy } from '../../policy/index.js'
import { approvalChallenge } from '../ceremony/approval-challenge.js'
import { requirementsMet } from '../requests/requirements-met.js'
import { assertCanonicalAssertionSignature } from '../ceremony/strict-encoding.js'
import { coseKeyThumbprint } from '../enrolment/cose-key-thumbprint.js'
import type { ApprovalEvidence, ApprovalVote } from '../types.js'

/** The outcome for one approver's assertion. */
export interface VoteVerification {
  sub: string
  credentialId: string
  ok: boolean
  problem?: string
}

/** The outcome of {@link verifyApprovalEvidence}. */
export interface EvidenceVerification {
  /** True only when every check passed. */
  ok: boolean
  /** The hash recomputed from the stored manifest. */
  manifestSha256: string
  votes: VoteVerification[]
  /** Every failed check, in words. */
  problems: string[]
}

/** The key an auditor holds for one credential id, from a record it trusts (the audit chain). */
export interface AnchoredKey {
  /** The approver the key was enrolled for. */
  approver: string
  /** The credential public key, COSE_Key, base64url. */
  publicKey: string
  /** Where it was recorded, for messages (`the approver.enrolled event at seq 12`). */
  source: string
  /**
   * Set when there is no record, or it does not hold (`verifyEnrolmentRecord`): why no vote by the
   * key counts, as a sentence that names the key.
   */
  problem?: string
}

export interface VerifyApprovalEvidenceOptions {
  /** When given, also check the approvers meet each rule under this policy's approver groups. */
  policy?: Policy
  /**
   * The approvers' keys by credential id, as recorded at enrolment (`verifyApprovalFromChain`
   * reads them from a verified audit chain export). When given, every vote must be by a key in it,
   * of the person it was enrolled for, and is verified under the recorded key: a key the evidence
   * carries that is not the recorded one fails the vote. Without it, each vote is checked against
   * the key the evidence itself carries, which shows only that the evidence is consistent.
   */
  enrolledKeys?: ReadonlyMap<string, AnchoredKey>
}

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err))

/** A key's thumbprint for a message, or a note that the bytes are not a key. */
const thumbprintOf = (publicKey: string): Promise<string> =>
  coseKeyThumbprint(publicKey).catch(() => '(not a COSE key)')

/**
 * The recorded key a vote must verify under.
 *
 * @throws Error naming what is wrong: no record, a record that does not hold, another person, or
 *   a key in the evidence that is not the recorded one.
 */
async function enrolledKeyOf(vote: ApprovalVote, keys: ReadonlyMap<string, AnchoredKey>): Promise<string> {
  const id = String(vote.credentialId)
  const anchored = keys.get(id)
  // Ensure the key was enrolled on record: evidence alone vouches for no key.
  if (!anchored) throw new Error(`key ${id} has no enrolment record: no approver.enrolled event names it`)
  if (anchored.problem) throw new Error(anchored.problem)
  // Ensure the key is the recorded one and counts for the person it was enrolled for.
  if (anchored.approver !== vote.sub) {
    throw new Error(`key ${id} was enrolled for ${anchored.approver} (${anchored.source}), not for ${String(vote.sub)}`)
  }
  const carried = Buffer.from(String(vote.publicKey), 'base64url')
  if (Buffer.compare(carried, Buffer.from(anchored.publicKey, 'base64url')) !== 0) {
    throw new Error(
      `the evidence carries public key ${await thumbprintOf(String(vote.publicKey))} for key ${id}, ` +
        `but the key enrolled under that id is ${await thumbprintOf(anchored.publicKey)} (${anchored.source}): ` +
        "the evidence's key is not the approver's",
    )
  }
  return anchored.publicKey
}

/**
 * Re-verifies approval evidence offline (no store, no network): that each stored assertion is a
 * valid WebAuthn signature (ECDSA ones in their one DER encoding), by the approver's credential
 * public key (with `enrolledKeys`, the key recorded at enrolment; without, the one the evidence
 * carries, which a broker that forged the evidence chose), over authenticator data for the stored
 * RP ID with user presence and verification, and over client data of type `webauthn.get` from the
 * stored origin whose challenge is the approval challenge recomputed from the stored manifest
 * (`approval_id`, `manifest_sha256` of the manifest as stored, its `authorization_details`,
 * `client_id`, and the vote's `exp` and `nonce`). Changing any byte of the manifest, the
 * assertion, the key or the challenge inputs makes it fail.
 *
 * Also checks that the recorded `manifestSha256` is the manifest's, that no person or key counts
 * twice, and that there are at least as many approvers as the strictest rule needs (with
 * `policy`, that every rule is met by members of its group).
 *
 * Never throws on bad evidence: every problem is reported in `problems`.
 *
 * To check evidence with no trust in the broker that produced it, use `verifyApprovalFromChain`,
 * which takes the keys from the audit chain's enrolment records and passes them as `enrolledKeys`.
 *
 * @example
 * const evidence = await approvalStore.getEvidence(grant.approval.id)
 * const result = await verifyApprovalEvidence(evidence!, { enrolledKeys })
 * if (!result.ok) console.error(result.problems.join('\n'))
 */
export async function verifyApprovalEvidence(
  evidence: ApprovalEvidence,
  options: VerifyApprovalEvidenceOptions = {},
): Promise<EvidenceVerification> {
  const problems: string[] = []
  let hash = ''
  try {
    hash = manifestSha256(evidence.manifest)
  } catch (err) {
    problems.push(`the stored manifest cannot be hashed: ${describe(err)}`)
  }
  // Ensure the recorded hash is the stored manifest's (what the token's approval claim names).
  if (hash && hash !== evidence.manifestSha256) {
    problems.push(`the stored manifest hashes to ${hash}, not to the recorded ${String(evidence.manifestSha256)}`)
  }
  const votes: VoteVerification[] = []
  const votesIn = Array.isArray(evidence.votes) ? evidence.votes : []
  if (votesIn.length === 0) problems.push('the evidence holds no approval')

  for (const [i, vote] of votesIn.entries()) {
    const result: VoteVerification = { sub: String(vote.sub), credentialId: String(vote.credentialId), ok: false }
    try {
      // Ensure the challenge is recomputed from the stored request, never taken from the assertion.
      const challenge = approvalChallenge({
        approval_id: evidence.approvalId,
        manifest_sha256: hash,
        authorization_details: evidence.manifest.grants,
        client_id: evidence.clientId,
        exp: vote.exp,
        nonce: vote.nonce,
      })
      const publicKey = Buffer.from(
        options.enrolledKeys ? await enrolledKeyOf(vote, options.enrolledKeys) : vote.publicKey,
        'base64url',
      )
      // Ensure an ECDSA signature is in its one DER encoding (the library accepts re-encodings).
      assertCanonicalAssertionSignature(publicKey, vote.signature)
      const verified = await verifyAuthenticationResponse({
        response: {
          id: vote.credentialId,
          rawId: vote.credentialId,
          type: 'public-key',
          response: {
            clientDataJSON: vote.clientDataJSON,
            authenticatorData: vote.authenticatorData,
            signature: vote.signature,
            ...(vote.userHandle ? { userHandle: vote.userHandle } : {}),
          },
          clientExtensionResults: {},
        },
        expectedChallenge: challenge,
        expectedOrigin: evidence.origin,
        expectedRPID: evidence.rpId,
        expectedType: 'webauthn.get',
        requireUserVerification: true,
        credential: { id: vote.credentialId, publicKey, counter: 0 },
      })
      if (!verified.verified) throw new Error('the signature does not verify under the public key')
      if (verified.authenticationInfo.newCounter !== vote.counter) {
        throw new Error(`the authenticator data says counter ${verified.authenticationInfo.newCounter}, the record ${vote.counter}`)
      }
      result.ok = true
    } catch (err) {
      result.problem = describe(err)
      problems.push(`votes[${i}] (${result.sub}): ${result.problem}`)
    }
    votes.push(result)
  }

  // Ensure one person and one key count once.
  const subs = new Set(votesIn.map((v) => v.sub))
  const keys = new Set(votesIn.map((v) => v.credentialId))
  if (subs.size !== votesIn.length) problems.push('a person appears more than once among the approvers')
  if (keys.size !== votesIn.length) problems.push('a key appears more than once among the approvers')
  const requirements = Array.isArray(evidence.requirements) ? evidence.requirements : []
  const needed = requirements.reduce((max, r) => Math.max(max, r.approvers), 0)
  if (subs.size < needed) problems.push(`${subs.size} approver(s), but a rule needs ${needed}`)
  if (options.policy) {
    const requestedBy = evidence.manifest?.task?.requested_by
    if (!requirementsMet(options.policy, requirements, requestedBy, votesIn)) {
      problems.push('under the given policy the approvers do not meet every rule')
    }
  }
  return { ok: problems.length === 0, manifestSha256: hash, votes, problems }
}
