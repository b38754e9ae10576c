import type { AuthorizationCode, AuthorizationRequest, ConsentChallenge } from '../types.js'

/**
 * State of the authorization code flow: pending requests, their single-use consent challenges,
 * and issued codes with the grant each was redeemed for.
 *
 * Two real implementations (memory, Redis sharing the grant store's client) pass one contract
 * suite (`test/authorization/store-contract.ts`). Every step that must happen once is atomic.
 * Expiry is decided by the injected clock; backing TTLs only reclaim space. When the backing
 * service is unreachable every method throws a WritError `temporarily_unavailable` (503).
 * A code's single use is not kept here: it is the grant store's single-use marker
 * (`consumeOnce`), like every other one-time value.
 */
export interface AuthorizationStore {
  /** Stores a pending request until its `expiresAt`. */
  putRequest(request: AuthorizationRequest): Promise<void>

  /** The pending request, or null when it is unknown, decided or expired. */
  getRequest(id: string): Promise<AuthorizationRequest | null>

  /**
   * Takes the pending request: returns it and deletes it in one atomic step, so a request is
   * decided (consented or refused) at most once across replicas.
   */
  takeRequest(id: string): Promise<AuthorizationRequest | null>

  /** Stores a consent challenge for request `id` until `challenge.exp`. */
  putChallenge(id: string, challenge: ConsentChallenge): Promise<void>

  /** Takes a challenge (atomic get-and-delete); null when never issued for `id`, used or expired. */
  takeChallenge(id: string, challenge: string): Promise<ConsentChallenge | null>

  /** Stores a code's record under its SHA-256 (hex), kept `retentionSeconds` (a positive integer). */
  putCode(codeSha256: string, code: AuthorizationCode, retentionSeconds: number): Promise<void>

  /** The code's record while it is kept (also after its use and expiry), or null. */
  getCode(codeSha256: string): Promise<AuthorizationCode | null>

  /**
   * The redeemer records the grant it issued from the code, atomically with reading whether the
   * code was presented again meanwhile: then `replayed` is true and the caller revokes the grant.
   */
  linkGrant(codeSha256: string, grantId: string, retentionSeconds: number): Promise<{ replayed: boolean }>

  /**
   * A second presentation marks the code replayed, atomically with reading the grant issued from
   * it, if any (the caller revokes it). With {@link linkGrant} one of the two always sees the other.
   */
  markReplayed(codeSha256: string, retentionSeconds: number): Promise<{ grantId?: string }>
}
