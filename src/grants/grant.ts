import type { AuthorizationDetail, TaskInfo } from '../manifest/types.js'

/** One approver's part in an approval, as the token's `approval.approvers[]` shows it. */
export interface GrantApprover {
  /** The approver's id (their email, as the policy's approver group lists it). */
  sub: string
  /** AAGUID of the authenticator model (RFC 4122 form), from the key's attestation. */
  aaguid: string
  /** WebAuthn credential id, base64url. */
  credentialId: string
  /** Seconds since the epoch. */
  at: number
}

/** The human approval a grant was minted under (docs/design.md, "Approval, bound to intent"). */
export interface GrantApproval {
  /** The approval request id. */
  id: string
  manifestSha256: string
  approvers: GrantApprover[]
}

/** RFC 8693 §4.1 `act`: the current actor, with the actors before it nested inside. */
export interface ActClaim {
  sub: string
  act?: ActClaim
}

/** Where a delegated grant comes from (token exchange, `src/delegation/`). */
export interface GrantDelegation {
  /** The parent grant: the subject token's `jti`. */
  parentId: string
  parentClientId: string
  /**
   * Every grant above this one, the chain's root first and the parent last. The grant is live
   * only while each of them is: verifiers and the broker check them all, so revoking any one
   * ends this grant at once, before the cascade reaches its record.
   */
  ancestors: Array<{ clientId: string; grantId: string }>
  /** 1 for a child of a directly issued grant, one more per hand-over. */
  depth: number
  /** The deepest the chain may grow below this grant: the smallest limit along it. */
  maxDepth: number
  /** The token's `sub`: the subject the chain acts for (the root grant's subject). */
  subject: string
  /** The token's `act`: this grant's client outermost, the parents' clients nested inside. */
  act: ActClaim
}

/**
 * A grant made for a person a trusted identity provider proved (token exchange with an ID token):
 * the token's `sub` is the person, its `act` the client (RFC 8693 §4.1).
 */
export interface GrantOnBehalfOf {
  /** The person's id, in normal form: the token's `sub` and the task's `requested_by`. */
  subject: string
  /** The identity provider's `iss`. */
  issuer: string
}

/** One issued decision. `id` is the token's `jti`. Times are seconds since the epoch. */
export interface Grant {
  id: string
  clientId: string
  task: TaskInfo
  manifestSha256: string
  authorizationDetails: AuthorizationDetail[]
  /** The policy rule each grant matched, by index. */
  ruleIds: string[]
  /** Present when a human approved the request; its evidence is kept by the approvals module. */
  approval?: GrantApproval
  /** RFC 7638 thumbprint of the DPoP key the token is bound to. */
  cnfJkt?: string
  /**
   * The token's `sub` when a person authorized the client (the authorization code flow); absent,
   * `sub` is the client. Not kept in the stored record: the token's claims (and their digest) carry it.
   */
  subject?: string
  /**
   * The digest of the claims of the one token issued for this grant (see `claimsSha256` in
   * `wire/claims-digest.ts`): liveness accepts only that token. Absent in the records of
   * brokers before it was recorded; liveness then goes by the record's existence alone.
   */
  claimsSha256?: string
  /** Present when the grant was delegated from a parent grant by token exchange. */
  delegation?: GrantDelegation
  /** Present when the grant acts for a person a trusted issuer proved (token exchange). */
  onBehalfOf?: GrantOnBehalfOf
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
