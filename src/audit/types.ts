import type { JWK } from 'jose'
import type { AuthorizationDetail } from '../manifest/types.js'

/**
 * Who did what an event records: a client (`client:<id>`), the admin (holder of the admin token),
 * an approver (`approver:<sub>`), the broker itself (`system`), or an unauthenticated caller
 * (`anonymous`).
 */
export type AuditActor =
  | `client:${string}`
  | 'admin'
  | `approver:${string}`
  | 'system'
  | 'anonymous'

/** Any JSON value: what `detail` may carry. */
export type AuditJson =
  | null
  | boolean
  | number
  | string
  | AuditJson[]
  | { [key: string]: AuditJson }

/** One approver's part in an approval, as events record it. Times are seconds since the epoch. */
export interface AuditApprover {
  sub: string
  aaguid: string
  credential_id: string
  at: number
}

interface Base {
  actor: AuditActor
  /** Anything else worth keeping; plain JSON. */
  detail?: { [key: string]: AuditJson }
}

/**
 * A token request the policy allowed, and the grant recorded for it: who asked (client, task,
 * manifest hash), what the policy decided (the rule of each grant), what was granted and until when.
 * One event per issued token; the token leaves the broker only once this event is in the log. It is
 * written together with the grant's record in the store; when the store refuses the grant, a
 * `grant.voided` event follows and no token is issued.
 */
export interface GrantIssuedEvent extends Base {
  type: 'grant.issued'
  client: string
  grant: string
  task: string
  task_purpose?: string
  requested_by?: string
  manifest_sha256: string
  /** The policy rule each grant matched, by index. */
  rules: string[]
  authorization_details: AuthorizationDetail[]
  /** Seconds since the epoch. */
  issued_at: number
  expires_at: number
  /** RFC 7638 thumbprint of the DPoP key the token is bound to. */
  cnf_jkt?: string
  /**
   * base64url(SHA-256) of the issued token's JWS payload segment: the token's claims, exactly as
   * issued. Liveness accepts only the token with this digest (see `claimsSha256`).
   */
  claims_sha256?: string
  /** The approval request a human approved, when one did. */
  approval?: string
  approvers?: AuditApprover[]
  /** A delegated grant's chain (token exchange): its parent, depth and the token's `act`. */
  delegation?: AuditDelegation
  /**
   * A grant made for a person a trusted identity provider proved (token exchange with an ID
   * token): the person (`sub`, also `requested_by`) and the provider (`iss`); the actor is `client`.
   */
  on_behalf_of?: { iss: string; sub: string }
}

/** RFC 8693 §4.1 `act`: the current actor outermost. */
export interface AuditAct {
  sub: string
  act?: AuditAct
}

/** The `delegation` member of a delegated grant's `grant.issued` event. */
export interface AuditDelegation {
  parent: string
  parent_client: string
  /**
   * Every grant above this one, root first, the parent last. Absent in the records of brokers
   * before it was recorded: the parent alone is known then.
   */
  ancestors?: Array<{ client: string; grant: string }>
  depth: number
  max_depth: number
  subject: string
  act: AuditAct
}

/**
 * A `grant.issued` whose grant the store then refused (`quota_exceeded`) or failed to record: no
 * token was issued for it. `grant.issued` is written together with the store write, like a
 * write-ahead log entry; this event closes it.
 */
export interface GrantVoidedEvent extends Base {
  type: 'grant.voided'
  client: string
  grant: string
  task: string
  /** The error code the client received. */
  reason: string
  message: string
}

/** A token request refused after the client authenticated: by policy, DPoP or approval rules. */
export interface TokenDeniedEvent extends Base {
  type: 'token.denied'
  client: string
  task?: string
  manifest_sha256?: string
  /** The error code the client received (`access_denied`, `quota_exceeded`, ...). */
  reason: string
  /** The message the client received. */
  message: string
}

/** What a revocation named: one grant, a task, a client, an approver's approvals, or everything. */
export type RevocationScope = 'grant' | 'task' | 'client' | 'approver' | 'all'

/** Grants revoked: who, what (`scope` and its value), why, and how many grants it took out. */
export interface GrantRevokedEvent extends Base {
  type: 'grant.revoked'
  scope: RevocationScope
  grant?: string
  task?: string
  client?: string
  approver?: string
  reason: string
  count: number
}

/**
 * Failed client authentications, coalesced: the first failure for a claimed client id in a window
 * is recorded at once, the rest of the window as one event with `count`.
 */
export interface ClientAuthFailedEvent extends Base {
  type: 'client.auth_failed'
  /** The client id the caller claimed (it may not exist); absent when none could be read. */
  client?: string
  reason: string
  count: number
  /** ISO 8601: the first and last failure this event counts. */
  first_at: string
  last_at: string
}

/** Failed admin authentications, coalesced like {@link ClientAuthFailedEvent}. */
export interface AdminAuthFailedEvent extends Base {
  type: 'admin.auth_failed'
  path: string
  reason: string
  count: number
  first_at: string
  last_at: string
}

/** A state-changing admin request (any method but GET and HEAD) and its outcome. */
export interface AdminActionEvent extends Base {
  type: 'admin.action'
  method: string
  path: string
  status: number
  request_id?: string
}

/** An approval request was created for a manifest that needs a human (emitted by approvals). */
export interface ApprovalRequestedEvent extends Base {
  type: 'approval.requested'
  approval: string
  client: string
  task: string
  manifest_sha256: string
  /** The rules that need a human, one per approval requirement. */
  rules: string[]
  /** When the request expires undecided. Seconds since the epoch. */
  expires_at: number
}

/** One approver approved with a security key (emitted by approvals). */
export interface ApprovalApprovedEvent extends Base {
  type: 'approval.approved'
  approval: string
  approver: string
  credential_id: string
  aaguid: string
  task?: string
  client?: string
  manifest_sha256?: string
  /** True when this vote completed the approval. */
  complete?: boolean
}

/**
 * An approver denied, or an enrolled key's valid assertion was refused (`approval.rejected`: a
 * flagged key, a signature counter that went backwards, a person who may not decide, self-approval,
 * a second approval by the same person or key). Assertions that do not verify under an enrolled
 * key are anyone's and are not audited.
 */
export interface ApprovalDeniedEvent extends Base {
  type: 'approval.denied' | 'approval.rejected'
  approval: string
  approver?: string
  credential_id?: string
  aaguid?: string
  task?: string
  client?: string
  reason?: string
}

/**
 * An approval request expired undecided (emitted by approvals, once per request, by whoever finds
 * it expired first: a poll, the approval page, a ceremony).
 */
export interface ApprovalExpiredEvent extends Base {
  type: 'approval.expired'
  approval: string
  task?: string
  client?: string
}

/**
 * An approval request was ended before its token was collected (emitted by approvals): by a
 * revocation (`admin`), or because the votes still counting can no longer meet its rules
 * (`system`: a key disabled, a person left the group). Its poll answers `access_denied` from
 * then on.
 */
export interface ApprovalRevokedEvent extends Base {
  type: 'approval.revoked'
  approval: string
  client: string
  task: string
  reason: string
}

/**
 * Approver enrolment: an invite issued (by the admin), a key flagged (by the broker: its signature
 * counter went backwards) or removed (disabled by the admin). A key enrolled is
 * {@link ApproverEnrolledEvent}.
 */
export interface ApproverEvent extends Base {
  type: 'approver.invited' | 'approver.key_flagged' | 'approver.key_removed'
  approver: string
  credential_id?: string
  aaguid?: string
  reason?: string
}

/**
 * A security key enrolled by its approver: the anchor approval evidence is checked against. It
 * carries the key exactly as the authenticator attested it, with the attestation itself, so an
 * auditor holding the chain export and the attestation trust anchors can re-check offline, with
 * no trust in the broker, that this credential id is this key of this authenticator model
 * (`verifyApprovalFromChain`). A credential id is enrolled once: a second event for the same id is
 * not the broker's. `detail` holds `group`, `fmt` and `attestation` (`verified` or `relaxed`).
 */
export interface ApproverEnrolledEvent extends Base {
  type: 'approver.enrolled'
  approver: string
  credential_id: string
  aaguid: string
  /** The credential public key, COSE_Key, base64url: the key every approval by it must verify under. */
  public_key: string
  /** RFC 7638 thumbprint (SHA-256, base64url) of that key; `GET /admin/approvers/keys` shows it too. */
  public_key_thumbprint: string
  /** The registration's attestation object, base64url (authenticator data with the key, statement). */
  attestation_object: string
  /** The registration's clientDataJSON, base64url: the attestation statement signs its hash. */
  client_data_json: string
}

/**
 * An approver signed in to the approver inbox with an enrolled key (`approver.signed_in`; `detail`
 * holds the session's `expires_at`), or an enrolled key's valid sign-in assertion was refused
 * (`approver.sign_in_refused`: a flagged key, a locked person, someone in no approver group, a
 * counter that went backwards). A session only lists requests; it approves nothing.
 */
export interface ApproverSignInEvent extends Base {
  type: 'approver.signed_in' | 'approver.sign_in_refused'
  approver: string
  credential_id: string
  aaguid: string
  reason?: string
}

/**
 * A lock set or ended by the admin (`src/locks`): while it stands, its target (a client, a task
 * or an approver) gets no token, approval request, vote or collection. `revoked`: the live grants
 * the lock also revoked. A lock that expires by itself leaves no event: its `expires_at` says when.
 */
export interface LockEvent extends Base {
  type: 'lock.created' | 'lock.removed'
  lock: string
  target_kind: 'client' | 'task' | 'approver'
  target: string
  reason: string
  /** Seconds since the epoch; absent: until unlocked. */
  expires_at?: number
  revoked?: number
}

/** Cloud credentials handed out for a grant (emitted by credentials/aws). */
export interface CredentialVendedEvent extends Base {
  type: 'credential.vended'
  client: string
  grant: string
  task?: string
  provider: string
  /** What was assumed (a role ARN) and the session's name and expiry (seconds since the epoch). */
  resource: string
  session?: string
  expires_at: number
}

/**
 * A signing key became current: rotated by the admin, or on schedule (`system`) by the one
 * replica that made the rotation. `forced` when asked with `force` (allowed to unpublish a key
 * whose tokens were still alive). `compromised` for a compromised-key rotation: fresh keys, and
 * `withdrawn_kids` (every earlier key) dropped from the JWKS at once.
 */
export interface KeyRotatedEvent extends Base {
  type: 'key.rotated'
  kid: string
  previous_kid?: string
  forced?: boolean
  /** The old key is considered stolen (see `announcement`): every earlier key was withdrawn. */
  compromised?: boolean
  /** With `compromised`: every earlier kid, none of them published any more. */
  withdrawn_kids?: string[]
  /** The new key's public JWK (`kid` is its RFC 7638 thumbprint). */
  jwk?: JWK
  /**
   * Compact JWS (`typ` writ-audit-key+jwt) by the new key over `{kid, previous_kid, compromised}`:
   * the new key names its predecessor. Unless `compromised`, an auditor who trusts the new key
   * trusts the old one's checkpoints too.
   */
  announcement?: string
  /**
   * The same statement signed by the old key: it hands over to the new one, so an auditor who
   * trusts the old key trusts the new one's checkpoints too. Absent when `compromised`.
   */
  handover?: string
}

/**
 * The alarm: the key set in the store does not authenticate under the KEK (written without it,
 * sealed for another issuer, or an older set put back), so this replica refused it and keeps
 * signing with `kept_kid` (absent when refused at start, where the broker does not start).
 * `version` is the store's version of the refused value. Raised once per distinct value.
 */
export interface KeySetRefusedEvent extends Base {
  type: 'key.set_refused'
  reason: string
  version: number
  kept_kid?: string
}

/**
 * A new policy took force (`src/policy`, `docs/policy.md`): stored by `writ policy apply` (actor
 * `admin`; every replica on the store follows it) or re-read from the policy file on SIGHUP (actor
 * `system`, on the replica that read it). `old_hash` and `new_hash` are hex SHA-256 of the policy
 * texts. Grants issued under the old policy stay as they are.
 */
export interface PolicyChangedEvent extends Base {
  type: 'policy.changed'
  old_hash: string
  new_hash: string
  source: 'file' | 'store'
  /** The stored policy's generation (source `store`). */
  generation?: number
}

/**
 * A policy this replica refused to put in force, keeping the one it has: a stored policy that
 * does not authenticate under the KEK, is older than the one in force, or is not a valid policy
 * for this broker. Once per replica and stored version. (An invalid file on SIGHUP is only logged:
 * it never left the operator's hands.)
 */
export interface PolicyRefusedEvent extends Base {
  type: 'policy.refused'
  reason: string
  /** The store's version of the refused value. */
  version: number
  kept_hash: string
}

/** The audit log's own events: signed checkpoints, exports and trims. */
export interface AuditCheckpointEvent extends Base {
  type: 'audit.checkpoint'
  /**
   * Compact JWS over `{iss, seq, hash, iat}`: the seq and hash of the last event chained when it
   * was written, which comes before this one (events taken in meanwhile may lie between).
   */
  checkpoint: string
  /** The public key that signed it (its `kid` is its RFC 7638 thumbprint). */
  jwk: JWK
}

export interface AuditExportedEvent extends Base {
  type: 'audit.exported'
  from_seq: number
  to_seq: number
  to_hash: string
  destination: string
}

export interface AuditTrimmedEvent extends Base {
  type: 'audit.trimmed'
  /** Events with a smaller seq were removed. */
  before_seq: number
  /** Where the removed events were exported to, as the operator said. */
  exported_to: string
  count: number
}

/**
 * The broker refused to seal an export: the log does not verify against its own keys (its store
 * was written by someone else). `seq` is the first bad event, when the problem has one.
 */
export interface AuditSealRefusedEvent extends Base {
  type: 'audit.seal_refused'
  from_seq: number
  seq?: number
  reason: string
}

/**
 * The authorization code flow (emitted by authorization): a request shown for consent
 * (`requested`), a person's consent with their key (`consented`: a code was issued; the
 * assertion is kept in `detail` so it can be checked again), a request the person declined
 * (`denied`), an enrolled key's valid assertion refused (`refused`), a code exchanged for a token
 * (`code_redeemed`), a code presented again (`code_replayed`: the grant issued from it is revoked).
 */
export interface AuthorizationEvent extends Base {
  type:
    | 'authorization.requested'
    | 'authorization.consented'
    | 'authorization.denied'
    | 'authorization.refused'
    | 'authorization.code_redeemed'
    | 'authorization.code_replayed'
  authorization: string
  client: string
  /** The task id the grant is recorded under (`authz-<authorization>`). */
  task: string
  /** The person who consented (or whose key was refused), as enrolled. */
  approver?: string
  credential_id?: string
  /** The grant issued from the code (redeemed), or revoked because the code came back (replayed). */
  grant?: string
  reason?: string
}

/** What callers append: one of the event shapes, without `seq`, `time`, `prev` and `hash`. */
export type AuditEventInput =
  | GrantIssuedEvent
  | GrantVoidedEvent
  | TokenDeniedEvent
  | GrantRevokedEvent
  | ClientAuthFailedEvent
  | AdminAuthFailedEvent
  | AdminActionEvent
  | ApprovalRequestedEvent
  | ApprovalApprovedEvent
  | ApprovalDeniedEvent
  | ApprovalExpiredEvent
  | ApprovalRevokedEvent
  | ApproverEvent
  | ApproverEnrolledEvent
  | ApproverSignInEvent
  | LockEvent
  | CredentialVendedEvent
  | KeyRotatedEvent
  | KeySetRefusedEvent
  | PolicyChangedEvent
  | PolicyRefusedEvent
  | AuditCheckpointEvent
  | AuditExportedEvent
  | AuditTrimmedEvent
  | AuditSealRefusedEvent
  | AuthorizationEvent

export type AuditEventType = AuditEventInput['type']

/** The fields the log adds to every event. */
export interface AuditChainFields {
  /** Position in the log, from 1, assigned atomically. */
  seq: number
  /** ISO 8601 with milliseconds, from the appending broker's clock. */
  time: string
  /** `hash` of the event before (64 zeros for seq 1). */
  prev: string
  /**
   * Hex SHA-256 of `prev`, then `seq` in decimal, then the RFC 8785 canonical JSON of the event
   * without `seq`, `prev` and `hash` (see `hashAuditEvent`).
   */
  hash: string
}

/** What `append` resolves with: the event, its seq and time (its hashes come when it is chained). */
export type AppendedEvent = AuditEventInput & Pick<AuditChainFields, 'seq' | 'time'>

/**
 * An event that brings its own body: `encode(time)` returns exactly the RFC 8785 canonical JSON of
 * the event with `time` added (what `append` would store for it), built straight from its source
 * without an intermediate object. The issuance hot path uses it for `grant.issued`
 * (`encodeGrantIssued`); each encoder is tested against `canonicalize`.
 */
export interface EncodedAuditEvent {
  readonly type: AuditEventType
  readonly actor: string
  /** Index references (see `auditIndexRefs`): what the event would be listed under. */
  readonly refs: readonly string[]
  /** @throws TypeError when a member is not JSON (a lone surrogate, a non-finite number). */
  encode(time: string): string
}

/** An event as stored and exported. */
export type AuditEvent = AuditEventInput & AuditChainFields

/** The `prev` of the first event. */
export const GENESIS_HASH = '0'.repeat(64)

/** The last event of the log and the last checkpoint. */
export interface AuditHead {
  /** 0 for an empty log. */
  seq: number
  hash: string
  /** Seq of the last checkpoint event, 0 when none. */
  checkpointSeq: number
}
