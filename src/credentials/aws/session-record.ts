/** One AWS session writ vended (or is about to vend). Times are seconds since the epoch. */
export interface VendedSession {
  /** The grant it was vended for; also its RoleSessionName. */
  grantId: string
  clientId: string
  roleArn: string
  /** When the AWS session expires. */
  expiresAt: number
}

/** Sessions issued before `issuedBefore` are denied until `until`. Seconds since the epoch. */
export interface IssueTimeCutoff {
  issuedBefore: number
  /** When every session it was set for has expired: then the cutoff is dropped. */
  until: number
}

/** One revoked grant's sessions on a role: whose they are and when the last one expires. */
export interface DeniedSession {
  /**
   * The client the grant was issued to (the session's `writ:client` tag); empty for entries
   * stored before writ recorded it, which only a role-wide cutoff can replace.
   */
  client: string
  until: number
}

/** What the deny policy on one role must cut. Times are seconds since the epoch. */
export interface DenyEntries {
  /** Session names (grant ids) of revoked grants → their client and last session's expiry. */
  sessions: Record<string, DeniedSession>
  /**
   * Client id → every session of that client (its `writ:client` session tag) issued before the
   * cutoff: the fallback when one client's revoked sessions would take more than its share of the
   * policy budget. Touches no other client's sessions.
   */
  clientCutoffs?: Record<string, IssueTimeCutoff>
  /**
   * Every session issued before the cutoff, whoever's it is: `revoke all`, and the last resort
   * when even one cutoff per client would not fit the budget.
   */
  cutoff?: IssueTimeCutoff
}

/** The shared deny state of one role, versioned for compare-and-set between replicas. */
export interface RoleDenyState extends DenyEntries {
  /** Incremented by every successful put; 0 when nothing was ever stored. */
  version: number
  /** The latest version known to have been written to IAM. */
  appliedVersion: number
}

/**
 * writ's own small record for AWS sessions: which sessions were vended under which grant, and
 * what the deny policy on each role must contain. Two implementations, memory
 * (`memory-session-record.ts`) and Redis (`redis-session-record.ts`), pass one contract suite.
 * Liveness of entries is decided by the injected clock. Failures of the backing service throw a
 * WritError `temporarily_unavailable` (503).
 */
export interface AwsSessionRecord {
  /**
   * Records a vended session, before AssumeRole is called, so a revocation racing the call finds
   * it. Several sessions of one grant and role keep the latest expiry.
   */
  recordSession(session: VendedSession): Promise<void>
  /** The unexpired sessions vended under these grants (one per grant and role). */
  sessionsOf(grantIds: readonly string[]): Promise<VendedSession[]>
  /** Every unexpired vended session: reconciliation after revocation messages were missed. */
  listSessions(): Promise<VendedSession[]>
  /** The role's deny state (version 0 and nothing to deny when none was stored). */
  getDenyState(roleArn: string): Promise<RoleDenyState>
  /**
   * Stores `entries` as version `expectedVersion + 1` when the stored version is still
   * `expectedVersion`; false when another writer got there first.
   */
  putDenyState(roleArn: string, entries: DenyEntries, expectedVersion: number): Promise<boolean>
  /** Marks `version` as written to IAM, when it is still the current version. */
  markApplied(roleArn: string, version: number): Promise<void>
}
