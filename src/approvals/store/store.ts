import type {
  ApprovalDenial,
  ApprovalEvidence,
  ApprovalRecord,
  ApprovalRequest,
  ApprovalRevocation,
  ApprovalStatus,
  ApprovalVote,
  ApproverCredential,
  ApproverCredentialState,
  CredentialFlag,
  EnrolmentInvite,
  RegistrationChallenge,
  StoredChallenge,
} from '../types.js'

/** How long an approval request stays readable after it expires, so polls see `expired_token`. */
export const EXPIRED_RETENTION_SECONDS = 600

/** The most the polling interval grows to after repeated `slow_down` answers. */
export const MAX_POLL_INTERVAL_SECONDS = 60

/** What {@link ApprovalStore.addVote} did. */
export type VoteOutcome =
  /** Recorded; `status` is `approved` when this vote completed the approval. */
  | { outcome: 'recorded'; status: ApprovalStatus }
  /** This person has already approved the request. */
  | { outcome: 'duplicate_approver' }
  /** This key has already approved the request. */
  | { outcome: 'duplicate_key' }
  /** The votes changed since the caller read them: read again and retry. */
  | { outcome: 'conflict' }
  /** The request is no longer pending (or has expired, or is gone). */
  | { outcome: 'closed'; status: ApprovalStatus | 'expired' | 'unknown' }

/** What {@link ApprovalStore.deny} did. */
export type DenyOutcome =
  | { outcome: 'denied' }
  | { outcome: 'closed'; status: ApprovalStatus | 'expired' | 'unknown' }

/**
 * How many `auth_req_id` secrets identical requests may add to one pending request by joining it
 * (see {@link CreateRequestOptions.coalesce}); a request that would add more is refused.
 */
export const MAX_JOINED_SECRETS = 16

/** Bounds on {@link ApprovalStore.createRequest} for a request that needs a human. */
export interface CreateRequestOptions {
  /**
   * The most requests of this client that may wait for a human at once (pending and unexpired);
   * one more is refused with `too_many_pending`.
   */
  maxPending: number
  /**
   * Join an identical pending request of the same client (same manifest hash, DPoP key,
   * requirements and token life) instead of storing a new one: the caller's secret is added to it.
   */
  coalesce: boolean
}

/** What {@link ApprovalStore.createRequest} did. */
export type CreateOutcome =
  /** Stored as a new request. */
  | { outcome: 'created' }
  /** An identical pending request took the caller's secret; nothing new was stored. */
  | { outcome: 'joined'; request: ApprovalRequest }
  /** The client already has `pending` requests waiting for a human: nothing was stored. */
  | { outcome: 'too_many_pending'; pending: number; earliestExpiresAt: number }
  /** The identical pending request already carries {@link MAX_JOINED_SECRETS} joined secrets. */
  | { outcome: 'too_many_joined'; request: ApprovalRequest }

/** Which open approval requests {@link ApprovalStore.endRequests} ends. */
export type ApprovalScope =
  | { approvalId: string }
  | { clientId: string }
  | { taskId: string }
  /** Requests carrying a vote by this person. */
  | { approver: string }
  | { all: true }

/** What {@link ApprovalStore.withdrawVotes} did. */
export type WithdrawOutcome =
  /** The votes are gone and the request is pending again. */
  | { outcome: 'withdrawn' }
  /** The votes changed since the caller read them: read again and retry. */
  | { outcome: 'conflict' }
  /** The request is not pending or approved (or has expired, or is gone). */
  | { outcome: 'closed'; status: ApprovalStatus | 'expired' | 'unknown' }

/** What {@link ApprovalStore.useCredential} found. */
export type CredentialUse = 'ok' | 'regressed' | 'flagged' | 'unknown'

/** What {@link ApprovalStore.enrol} did. */
export type EnrolOutcome = 'enrolled' | 'invite_used' | 'credential_exists'

/**
 * Shared state of human approval: approval requests and their votes, single-use challenges,
 * enrolment invites, enrolled keys and approval evidence.
 *
 * Two real implementations (`memory-store.ts`, `redis-store.ts`) pass one contract suite
 * (`test/approvals/store-contract.ts`). Every state change that must happen once is atomic in
 * the store (a Lua script in Redis, one synchronous step in memory): taking a challenge, adding a
 * vote, denying, redeeming, enrolling with an invite, and moving a key's signature counter.
 * Expiry is decided by the injected clock against each record's expiry; backing TTLs only
 * reclaim space. When the backing service is unreachable every method throws a WritError
 * `temporarily_unavailable` (503), so callers fail closed.
 */
export interface ApprovalStore {
  readonly kind: 'memory' | 'redis'

  /**
   * Stores a new pending request (or an approved one, when `requirements` is empty), readable
   * until `expiresAt` + {@link EXPIRED_RETENTION_SECONDS}, and indexes it by client and task until
   * it is collected, decided, ended or expired, so {@link endRequests} finds it whatever the
   * policy says now. An id in use throws a WritError `server_error`; an already expired request
   * is a RangeError.
   *
   * With `options`, a request that needs a human is bounded, atomically across replicas: it joins
   * an identical pending request when `coalesce` is set, and is refused when the client already
   * has `maxPending` requests pending. Without them (or without requirements) it is always stored.
   */
  createRequest(request: ApprovalRequest, options?: CreateRequestOptions): Promise<CreateOutcome>

  /** The request and its state, or null when it is unknown or past its retention. */
  getRequest(id: string): Promise<ApprovalRecord | null>

  /** Stores a challenge for one ceremony on request `approvalId`, until `challenge.exp`. */
  putChallenge(approvalId: string, challenge: StoredChallenge): Promise<void>

  /**
   * Takes a challenge: returns it and deletes it in one atomic step, so it is used at most once
   * across replicas. Null when it was never issued for this request, was taken, or has expired.
   */
  takeChallenge(approvalId: string, challenge: string): Promise<StoredChallenge | null>

  /**
   * Adds an approval, atomically: only while the request is pending and unexpired, only when
   * neither this person nor this key has approved it yet, and only when exactly
   * `expectedVotes` approvals are recorded (optimistic concurrency: the caller decided
   * `completes` from the votes it read). When `completes` is true the request becomes approved.
   */
  addVote(
    approvalId: string,
    vote: ApprovalVote,
    options: { expectedVotes: number; completes: boolean },
  ): Promise<VoteOutcome>

  /**
   * Ends every open request `scope` names (pending or approved, unexpired, not yet collected),
   * each in one atomic step: from then on it takes no vote, cannot be redeemed and answers
   * `revoked`. A request being redeemed concurrently is either redeemed first (and not ended) or
   * ended first (and never redeemed). A request in scope already redeemed, unexpired, keeps the
   * revocation as `revocation` (its status stays `redeemed`): whoever redeemed it checks for it
   * once the grant is recorded, so a revocation that raced the minting reaches the token too.
   * `approver` ends only requests holding that person's vote at the moment each is ended.
   * Returns the requests it ended, as they are afterwards.
   */
  endRequests(scope: ApprovalScope, revocation: ApprovalRevocation): Promise<ApprovalRecord[]>

  /**
   * Removes the votes of these keys from a pending or approved, unexpired request and makes it
   * pending again, atomically, only when exactly `expectedVotes` votes are recorded (the caller
   * decided from the votes it read). The people and keys withdrawn may vote again.
   */
  withdrawVotes(approvalId: string, credentialIds: string[], expectedVotes: number): Promise<WithdrawOutcome>

  /** Denies a pending, unexpired request, atomically; anything else is left as it is. */
  deny(approvalId: string, denial: ApprovalDenial): Promise<DenyOutcome>

  /**
   * Records a poll of a pending request. `slowDown` is true when it came sooner than the current
   * interval after the previous poll; the interval then grows by 5 seconds (CIBA §11), up to
   * {@link MAX_POLL_INTERVAL_SECONDS}.
   */
  recordPoll(approvalId: string): Promise<{ slowDown: boolean; intervalSeconds: number }>

  /**
   * Marks a request that expired while pending (nobody decided it) as having had its expiry
   * reported. True for exactly one caller, ever, across replicas; false while it is unexpired or
   * once it is decided, unknown, or already marked. Its status stays `pending`.
   */
  markExpired(approvalId: string): Promise<boolean>

  /**
   * Marks an approved, unexpired request redeemed. True for exactly one caller, ever: the token
   * for an approval is minted at most once.
   */
  redeem(approvalId: string): Promise<boolean>

  /** Keeps approval evidence for `retentionSeconds` (a positive integer). */
  putEvidence(evidence: ApprovalEvidence, retentionSeconds: number): Promise<void>

  getEvidence(approvalId: string): Promise<ApprovalEvidence | null>

  /** Stores a one-time enrolment invite until its expiry. */
  createInvite(invite: EnrolmentInvite): Promise<void>

  /** The invite while it is unused and unexpired, else null. */
  getInvite(tokenSha256: string): Promise<EnrolmentInvite | null>

  /** Stores (replacing any earlier one) the registration challenge of an invite, until its expiry. */
  putRegistrationChallenge(tokenSha256: string, challenge: RegistrationChallenge): Promise<void>

  /** Takes the invite's registration challenge (atomic get-and-delete); null if none is live. */
  takeRegistrationChallenge(tokenSha256: string): Promise<RegistrationChallenge | null>

  /**
   * Consumes the invite and stores the credential in one atomic step. `invite_used` when the
   * invite is gone or no longer the one the caller read; `credential_exists` when the credential
   * id is already enrolled (nothing changes then, and the invite stays usable).
   */
  enrol(invite: EnrolmentInvite, credential: ApproverCredential): Promise<EnrolOutcome>

  getCredential(credentialId: string): Promise<ApproverCredentialState | null>

  /** Enrolled keys, of one approver or all, ordered by enrolment time then id. */
  listCredentials(filter?: { sub?: string }): Promise<ApproverCredentialState[]>

  /**
   * Moves a key's signature counter to `counter`, atomically. A counter that does not increase
   * (unless both old and new are 0: the authenticator keeps no counter) is a regression: the key
   * is flagged with `flag` and `regressed` returned. A flagged key answers `flagged` and is never
   * updated again.
   */
  useCredential(credentialId: string, counter: number, flag: CredentialFlag): Promise<CredentialUse>

  /**
   * Flags a key by hand (an admin disabling a lost or stolen key): from then on it answers
   * `flagged` and can approve nothing. False when no such key is enrolled. An existing flag stays.
   */
  flagCredential(credentialId: string, flag: CredentialFlag): Promise<boolean>

  /** Pending, unexpired approval requests, soonest expiry first (at most `limit`, default 1000). */
  listPending(limit?: number): Promise<ApprovalRecord[]>

  /** Throws when the store cannot serve requests. */
  ping(): Promise<void>

  /** Releases what the store owns; afterwards every method fails closed. Safe to call twice. */
  close(): Promise<void>
}
