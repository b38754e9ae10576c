import type { AuthorizationDetail, TaskInfo } from '../manifest/types.js'

/** One issued decision. `id` is the token's `jti`. Times are seconds since the epoch. */
export interface Grant {
  id: string
  clientId: string
  task: TaskInfo
  manifestSha256: string
  authorizationDetails: AuthorizationDetail[]
  /** The policy rule each grant matched, by index. */
  ruleIds: string[]
  /** RFC 7638 thumbprint of the DPoP key the token is bound to. */
  cnfJkt?: string
  issuedAt: number
  expiresAt: number
}

export interface Revocation {
  grantId: string
  clientId: string
  /** Who revoked: `client:<id>`, `admin`, ... */
  by: string
  reason: string
  /** Seconds since the epoch. */
  at: number
  /** The grant's original expiry; the tombstone lives until then. */
  expiresAt: number
}

export type GrantState =
  | { state: 'live'; grant: Grant }
  | { state: 'revoked'; revocation: Revocation }
  | { state: 'unknown' }
