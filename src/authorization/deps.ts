import type { ApprovalDeps } from '../approvals/deps.js'
import type { IssueGrantDeps } from '../grants/issue-grant.js'
import type { GrantStore } from '../grants/store.js'
import type { OnceStore } from '../store/once-store.js'
import type { AuthorizationStore } from './store/store.js'

/** Life of an authorization code: RFC 6749 §4.1.2 says at most 10 minutes; writ keeps it to 60 s. */
export const CODE_TTL_SECONDS = 60

/** What the authorization code flow needs, all passed in. */
export interface AuthorizationDeps {
  store: AuthorizationStore
  /**
   * The approvals module: policy, clock, the WebAuthn relying party, enrolled keys, locks, audit.
   * A consent is an assertion by an enrolled approver key, checked as approvals check theirs.
   */
  approvals: ApprovalDeps
  /** Issuance (the policy decides again when the code is redeemed). */
  issue: IssueGrantDeps
  /** The revocation of a grant whose code came back. */
  grants: GrantStore
  /** A code's single use. */
  once: OnceStore
  /** The broker's issuer: `iss` in every authorization response (RFC 9207). */
  issuer: string
  /** Most grants one request may ask for (`limits.grants`). */
  maxGrants: number
}
