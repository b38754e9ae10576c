import { createHash } from 'node:crypto'
import { canonicalize } from '../../manifest/index.js'
import type { AuthorizationDetail } from '../../manifest/types.js'

/** The inputs of an approval challenge (docs/design.md, "Approval, bound to intent"). */
export interface ApprovalChallengeInput {
  approval_id: string
  manifest_sha256: string
  authorization_details: AuthorizationDetail[]
  client_id: string
  /** Seconds since the epoch after which the challenge is void. */
  exp: number
  nonce: string
}

/**
 * The WebAuthn challenge for one approval ceremony: SHA-256 over the RFC 8785 canonical JSON of
 * `{approval_id, manifest_sha256, authorization_details, client_id, exp, nonce}`, base64url.
 *
 * Exactly these six members, no more: the challenge is recomputed from the stored request when
 * an assertion is verified and again offline by `verifyApprovalEvidence`, so an assertion made
 * for one request (or one manifest) can never count for another.
 *
 * @example
 * approvalChallenge({ approval_id: 'Yp3...', manifest_sha256: 'ab12...', authorization_details,
 *   client_id: 'deploy-bot', exp: 1767225900, nonce: 'q8...' }) // 'xB7...' (43 characters)
 */
export function approvalChallenge(input: ApprovalChallengeInput): string {
  const bound = {
    approval_id: input.approval_id,
    manifest_sha256: input.manifest_sha256,
    authorization_details: input.authorization_details,
    client_id: input.client_id,
    exp: input.exp,
    nonce: input.nonce,
  }
  return createHash('sha256').update(canonicalize(bound), 'utf8').digest('base64url')
}
