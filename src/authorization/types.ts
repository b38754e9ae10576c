import type { GrantApprover } from '../grants/grant.js'
import type { AuthorizationDetail } from '../manifest/types.js'
import type { ApprovalRequirement } from '../policy/index.js'

/*
 * The authorization code flow's data model (RFC 6749 §4.1 as OAuth 2.1 profiles it, with PKCE).
 * Times are seconds since the epoch.
 */

/** What an interactive client asks for, and how, between `GET /oauth/authorize` and consent. */
export interface AuthorizationRequest {
  /** Random id: in the consent page's URLs and its WebAuthn challenge. */
  id: string
  /** A public client of the policy (`auth: none`). */
  clientId: string
  /** Exactly as presented; it matched one the client registered. */
  redirectUri: string
  /** Echoed in the redirect (RFC 6749 §4.1.2). */
  state?: string
  /** RFC 7636 S256 code challenge (base64url of SHA-256 of the verifier). */
  codeChallenge: string
  /** The grants asked for, as `requestedGrants` resolved them. */
  grants: AuthorizationDetail[]
  /** RFC 8707 resource indicators: the token's audience. Empty: the grants' locations. */
  resources: string[]
  /** The OAuth scope names asked for (the token's `scope`), when the request named any. */
  scopes?: string[]
  /** The token life the policy decided. */
  ttlSeconds: number
  /** RFC 9449 §10 `dpop_jkt`: the code can be redeemed only with a proof by this key. */
  dpopJkt?: string
  /** What the policy requires from people for these grants (empty: consent alone). */
  requirements: ApprovalRequirement[]
  createdAt: number
  expiresAt: number
}

/** A consent ceremony's challenge, single-use. */
export interface ConsentChallenge {
  challenge: string
  nonce: string
  exp: number
}

/** What an authorization code stands for; stored under the SHA-256 of the code, never the code. */
export interface AuthorizationCode {
  requestId: string
  clientId: string
  redirectUri: string
  codeChallenge: string
  grants: AuthorizationDetail[]
  resources: string[]
  scopes?: string[]
  ttlSeconds: number
  dpopJkt?: string
  requirements: ApprovalRequirement[]
  /**
   * Who consented, with which key, when: `sub` is the token's `sub` and the task's
   * `requested_by`; where `requirements` is not empty it is also the approval they count for.
   */
  consent: GrantApprover
  issuedAt: number
  /** The code is refused from then on (at most 60 seconds after `issuedAt`). */
  expiresAt: number
}
