import type { Grant, GrantState, Revocation } from './grant.js'

export interface CreateGrantOptions {
  /** The client's live-grant quota; creation fails with `quota_exceeded` when it is reached. */
  maxLiveGrants?: number
}

export interface StoredKeySet {
  /** Monotonic version, for compare-and-set between broker replicas. */
  version: number
  /** Opaque to the store: the tokens module's serialized (encrypted) key set. */
  data: string
}

/**
 * The grant store: the allow-list of live grants and every other piece of shared state.
 *
 * Two real implementations (`memory-store.ts`, `redis-store.ts`) pass one contract suite
 * (`test/grants/store-contract.ts`). Every method either does what it says or throws; when the
 * backing service is unreachable, or after `close()`, it throws a WritError with code
 * `temporarily_unavailable` (503), so callers fail closed. Liveness is decided by the store's
 * injected clock against each record's `expiresAt`; backing TTLs only reclaim space.
 */
export interface GrantStore {
  readonly kind: 'memory' | 'redis'

  /**
   * Records a live grant that expires at `grant.expiresAt`, indexed by client and by task.
   * Atomic with the quota check: either the grant is recorded and counted, or nothing changes and
   * a WritError `quota_exceeded` (429, `retryAfterSeconds` until the earliest live grant expires)
   * is thrown. A grant id is never reused: an id that is live or tombstoned throws a WritError
   * `server_error`. A grant that has already expired, or a bad `maxLiveGrants`, is a RangeError.
   */
  createGrant(grant: Grant, options?: CreateGrantOptions): Promise<void>

  /** The grant while it is live, its tombstone while a revoked grant would still have lived. */
  getGrant(clientId: string, grantId: string): Promise<GrantState>

  /**
   * Takes a live grant out of the live set and leaves a tombstone until its original expiry.
   * Returns the grant it revoked, or null when it was not live (unknown, expired, already revoked).
   */
  revokeGrant(
    clientId: string,
    grantId: string,
    revocation: Pick<Revocation, 'by' | 'reason' | 'at'>,
  ): Promise<Grant | null>

  /**
   * Live grants of a client, optionally of one task, oldest first (by `issuedAt`, then
   * `expiresAt`, then `id`).
   */
  listGrants(filter: { clientId: string; taskId?: string }): Promise<Grant[]>

  countLiveGrants(clientId: string): Promise<number>

  /**
   * Single-use marker: true the first time `(scope, id)` is consumed, false on every later call
   * until `ttlSeconds` have passed. Atomic across replicas (SET NX). `ttlSeconds` is a positive
   * integer (RangeError otherwise).
   */
  consumeOnce(scope: string, id: string, ttlSeconds: number): Promise<boolean>

  getKeySet(): Promise<StoredKeySet | null>

  /**
   * Compare-and-set of the key set: writes `data` as version `expectedVersion + 1` (or 1 when
   * `expectedVersion` is null and none exists). False when another replica won the race.
   */
  putKeySet(data: string, expectedVersion: number | null): Promise<boolean>

  /** Throws when the store cannot serve requests. */
  ping(): Promise<void>

  /** Releases what the store owns; afterwards every method fails closed. Safe to call twice. */
  close(): Promise<void>
}
