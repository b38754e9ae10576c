import { verifyAuthenticationResponse } from '@simplewebauthn/server'
import { manifestSha256 } from '../manifest/index.js'
import type { Policy } from '../policy/index.js'
import { approvalChallenge } from './approval-challenge.js'
import { requirementsMet } from './requirements-met.js'
import { assertCanonicalAssertionSignature } from './strict-encoding.js'
import type { ApprovalEvidence } from './types.js'

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

export interface VerifyApprovalEvidenceOptions {
  /** When given, also check the approvers meet each rule under this policy's approver groups. */
  policy?: Policy
}

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err))

/**
 * Re-verifies approval evidence offline (no store, no network): that each stored assertion is a
 * valid WebAuthn signature (ECDSA ones in their one DER encoding), by the stored credential public
 * key, over authenticator data for the stored RP ID with user presence and verification, and over
 * client data of type `webauthn.get` from the stored origin whose challenge is the approval
 * challenge recomputed from the stored manifest (`approval_id`, `manifest_sha256` of the manifest
 * as stored, its `authorization_details`, `client_id`, and the vote's `exp` and `nonce`). Changing
 * any byte of the manifest, the assertion, the key or the challenge inputs makes it fail.
 *
 * Also checks that the recorded `manifestSha256` is the manifest's, that no person or key counts
 * twice, and that there are at least as many approvers as the strictest rule needs (with
 * `policy`, that every rule is met by members of its group).
 *
 * Never throws on bad evidence: every problem is reported in `problems`.
 *
 * @example
 * const evidence = await approvalStore.getEvidence(grant.approval.id)
 * const result = await verifyApprovalEvidence(evidence!)
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
      const publicKey = Buffer.from(vote.publicKey, 'base64url')
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
      if (!verified.verified) throw new Error('the signature does not verify under the stored public key')
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
