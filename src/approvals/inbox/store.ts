/** A sign-in challenge handed out for the approver inbox; single-use. */
export interface SignInChallenge {
  /** The challenge itself, base64url (see `signInChallenge`). */
  challenge: string
  nonce: string
  /** Seconds since the epoch; after it the challenge is void. */
  exp: number
}

/**
 * A signed-in approver's inbox session: who, with which key, until when. It only lets its holder
 * see the list of requests they may decide; every decision still needs its own assertion.
 */
export interface ApproverSession {
  /** The approver, as the key was enrolled. */
  sub: string
  /** The key that signed in: the session ends when it is disabled, flagged or removed. */
  credentialId: string
  /** Seconds since the epoch. */
  createdAt: number
  expiresAt: number
}

/**
 * State of the approver inbox: single-use sign-in challenges and sessions (kept only under the
 * SHA-256 of the session token, never the token). Its own port, apart from the approval store:
 * a sign-in challenge lives where no approval ceremony looks, and the other way round, so neither
 * can be taken for the other.
 *
 * Two implementations (memory, Redis sharing the grant store's client) pass one contract suite
 * (`test/approvals/inbox/store-contract.ts`). Expiry is decided by the injected clock; backing TTLs
 * only reclaim space. When the backing service is unreachable every method throws a WritError
 * `temporarily_unavailable` (503).
 */
export interface InboxStore {
  /** Stores a sign-in challenge until `challenge.exp`. */
  putChallenge(challenge: SignInChallenge): Promise<void>

  /**
   * Takes a sign-in challenge: returns it and deletes it in one atomic step, so it is used at most
   * once across replicas. Null when it was never issued, was taken, or has expired.
   */
  takeChallenge(challenge: string): Promise<SignInChallenge | null>

  /** Stores a session under the SHA-256 (hex) of its token until `session.expiresAt`. */
  putSession(tokenSha256: string, session: ApproverSession): Promise<void>

  /** The session while it is unexpired, else null. */
  getSession(tokenSha256: string): Promise<ApproverSession | null>

  /** Ends a session (signing out); nothing happens when there is none. */
  deleteSession(tokenSha256: string): Promise<void>
}
