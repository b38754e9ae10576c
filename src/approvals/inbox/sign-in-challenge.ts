import { createHash } from 'node:crypto'
import { canonicalize } from '../../manifest/index.js'

/** What a sign-in assertion is for: written into every sign-in challenge, in no other. */
export const SIGN_IN_PURPOSE = 'writ.approver_inbox.sign_in'

/** The inputs of a sign-in challenge. */
export interface SignInChallengeInput {
  /** The relying party the key signs for. */
  rp_id: string
  /** Seconds since the epoch after which the challenge is void. */
  exp: number
  nonce: string
}

/**
 * The WebAuthn challenge an approver signs to open their inbox: SHA-256 over the RFC 8785
 * canonical JSON of `{purpose: "writ.approver_inbox.sign_in", rp_id, exp, nonce}`, base64url.
 *
 * The same construction as an approval's challenge (`approvalChallenge`) over different members:
 * no approval request, manifest or client is in it, and its `purpose` is in no approval's or
 * consent's, so a sign-in assertion stands for nothing but "this key's holder opened the inbox".
 * It is also stored apart (the inbox store), where no approval ceremony looks.
 *
 * @example
 * signInChallenge({ rp_id: 'writ.example.com', exp: 1767225900, nonce: 'q8...' }) // 'Zr4...'
 */
export function signInChallenge(input: SignInChallengeInput): string {
  const bound = { purpose: SIGN_IN_PURPOSE, rp_id: input.rp_id, exp: input.exp, nonce: input.nonce }
  return createHash('sha256').update(canonicalize(bound), 'utf8').digest('base64url')
}
