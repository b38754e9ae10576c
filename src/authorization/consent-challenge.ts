import { createHash } from 'node:crypto'
import { canonicalize } from '../manifest/index.js'
import type { AuthorizationDetail } from '../manifest/types.js'

/** The inputs of a consent challenge: the authorization request, whole, and the ceremony's nonce. */
export interface ConsentChallengeInput {
  authorization_id: string
  client_id: string
  authorization_details: AuthorizationDetail[]
  resource: string[]
  /** The OAuth scope names (the token's `scope`); bound only when the request named any. */
  scope?: string[]
  redirect_uri: string
  code_challenge: string
  /** RFC 9449 §10 `dpop_jkt`, or null when the request named none. */
  dpop_jkt: string | null
  /** Seconds since the epoch after which the challenge is void. */
  exp: number
  nonce: string
}

/**
 * The WebAuthn challenge a person signs to consent to one authorization request: SHA-256 over the
 * RFC 8785 canonical JSON of `{authorization_id, client_id, authorization_details, resource,
 * scope (when the request named scopes), redirect_uri, code_challenge, dpop_jkt, exp, nonce}`,
 * base64url. The same construction as an
 * approval's (`approvalChallenge`), over everything the code will stand for: the assertion
 * consents to these grants, for this client, sent to this redirect URI, redeemable only with this
 * PKCE verifier (and DPoP key), and to nothing else.
 */
export function consentChallenge(input: ConsentChallengeInput): string {
  const bound = {
    authorization_id: input.authorization_id,
    client_id: input.client_id,
    authorization_details: input.authorization_details,
    resource: input.resource,
    ...(input.scope ? { scope: input.scope } : {}),
    redirect_uri: input.redirect_uri,
    code_challenge: input.code_challenge,
    dpop_jkt: input.dpop_jkt,
    exp: input.exp,
    nonce: input.nonce,
  }
  return createHash('sha256').update(canonicalize(bound), 'utf8').digest('base64url')
}
