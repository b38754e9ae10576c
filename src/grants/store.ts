import type { LockStore } from '../locks/store.js'
import type { LockTarget } from '../locks/types.js'
import type { Grant, GrantState, Revocation } from './grant.js'

/** Who revoked, why and when: what the caller says about a revocation. */
export type RevocationInput = Pick<Revocation, 'by' | 'reason' | 'at'>

/**
 * Which live grants `listGrants` returns: one client's, or (without `clientId`) those of every
 * client the store holds grants of, whether or not the policy in force still declares it.
 */
export interface ListGrantsFilter {
  clientId?: string
  taskId?: string
}

/** A grant named by its client and id (the store keeps a client's grants together). */
export interface GrantRef {
  clientId: string
  grantId: string
}

export interface CreateGrantOptions {
  /** The client's live-grant quota; creation fails with `quota_exceeded` when it is reached. */
  maxLiveGrants?: number
  /**
   * The grant's `grant.issued` audit event (its canonical JSON, as `encodeGrantIssued` writes it),
   * to take into the audit log's stream in the same atomic write as the grant, so the grant is
   * recorded if and only if its event is (`XADD <streamKey> 0-* e <body>`). The store keeps the
   * same text as the grant's record (see `encodeGrantRecord`). Only a store for which
   * {@link GrantStore.takesAuditIntake} says so; others throw a TypeError.
   *
   * With `index`, the same write indexes the grant's reference as the event's (its first event
   * names it): `HSETNX <index.key> <index.ref> <seq>`; `createGrant` reports whether it did.
   */
  auditIntake?: { streamKey: string; body: string; index?: { key: string; ref: string } }
  /**
   * The canonical JSON of the grant's authorization details, when the caller has it (the manifest
   * hash computed it): a store that writes the record itself need not compute it again.
   */
  detailsJson?: string
  /**
   * Lock targets (see `src/locks`) that refuse the grant: when any of them has an active lock in
   * {@link GrantStore.locks}, nothing is recorded and a WritError `access_denied` (403) names the
   * lock. Checked in the same atomic step as the grant is recorded, so a grant recorded before a
   * lock is set is live when the lock's revocation sweeps, and none is recorded after.
   */
  unlessLocked?: readonly LockTarget[]
  /**
   * The parent of a delegated grant (token exchange). The grant is listed among the parent's
   * children ({@link GrantStore.listChildren}) and the parent among the grants with children
   * ({@link GrantStore.listParents}), for as long as the grant lives; and it is recorded only if
   * the parent is live when it is: otherwise a WritError `invalid_request` (400) and no live
   * grant (a store that cannot check both in one atomic step records the grant, checks the parent
   * after listing it, and revokes it again, so either the parent's revocation finds the child or
   * the child finds the parent revoked).
   */
  parent?: GrantRef
  /**
   * With `parent`: every grant above the new one, the chain's root first and `parent` last. The
   * grant is recorded only if each of them is live, checked as `parent` is (a revocation anywhere
   * up the chain refuses it). Without it, `parent` alone is checked.
   */
  ancestors?: readonly GrantRef[]
}

/** What `createGrant` recorded besides the grant. */
export interface CreatedGrant {
  /** The seq the `auditIntake` event got in the audit log's stream (only with `auditIntake`). */
  auditSeq?: number
  /**
   * Whether `auditIntake.index` was indexed (false when the reference was indexed already: then
   * the audit log's chaining indexes it, after the events before it).
   */
  auditIndexed?: boolean
}

/**
 * The grant store: the allow-list of live grants, the port of `grants/` in the store layer.
 *
 * Two real implementations (`memory-store.ts`, `redis-store.ts`) pass one contract suite
 * (`test/grants/store-contract.ts`). Every method either does what it says or throws; when the
 * backing service is unreachable, or after the store is closed, it throws a WritError with code
 * `temporarily_unavailable` (503), so callers fail closed. Liveness is decided by the store's
 * injected clock against each record's `expiresAt`; backing TTLs only reclaim space. Revocations
 * are published on the store's revocation feed (`store/revocation-feed.ts`) atomically with them.
 */
export interface GrantStore {

  /** Locks, kept in the same store: what `createGrant`'s `unlessLocked` reads. */
  readonly locks: LockStore

  /**
   * Records a live grant that expires at `grant.expiresAt`, indexed by client, by task, by id
   * (for {@link findGrant}) and by each approver of `grant.approval` ({@link revokeByApprover}).
   * Atomic with the quota check: either the grant is recorded and counted, or nothing changes and
   * a WritError `quota_exceeded` (429, `retryAfterSeconds` until the earliest live grant expires)
   * is thrown. A grant id is never reused: an id that is live or tombstoned throws a WritError
   * `server_error`. A grant that has already expired, or a bad `maxLiveGrants`, is a RangeError.
   * With `auditIntake`, the event is taken in by the same atomic write (nothing of either on a
   * refusal) and its seq is returned.
   */
  createGrant(grant: Grant, options?: CreateGrantOptions): Promise<CreatedGrant>

  /**
   * Whether `createGrant` can take an audit event in (`auditIntake`) for a log whose stream lives
   * on `client`'s server: a Redis store on that same client, on a single Redis or Sentinel (on
   * Cluster the stream lives in another slot than the grant).
   */
  takesAuditIntake?(client: object): boolean

  /** The grant while it is live, its tombstone while a revoked grant would still have lived. */
  getGrant(clientId: string, grantId: string): Promise<GrantState>

  /**
   * A grant by its id alone (admin lookups): live, its tombstone, or unknown. Grant ids are
   * unique across clients; the store keeps a pointer from id to client for the grant's life.
   */
  findGrant(grantId: string): Promise<GrantState>

  /**
   * Takes a live grant out of the live set, leaves a tombstone until its original expiry, and
   * publishes one {@link RevocationMessage} listing it, atomically with the change.
   * Returns the grant it revoked, or null when it was not live (unknown, expired, already revoked);
   * then nothing is published.
   */
  revokeGrant(clientId: string, grantId: string, revocation: RevocationInput): Promise<Grant | null>

  /**
   * Revokes every live grant of the task `taskId`, whatever its client: the store knows every
   * client with live grants, so no caller's client list (nor a policy that no longer names a
   * client) can leave one out. Like every bulk revocation it works in batches (at most the store's
   * batch size of grants per step, so the backing store is never busy with one long command),
   * leaves a tombstone per grant, and publishes one message per batch listing that batch's grants.
   * Returns how many it revoked. Grants created while it runs may or may not be revoked. A failure
   * part-way throws (`temporarily_unavailable`); what was revoked by then stays revoked, and a
   * retry finishes it.
   */
  revokeByTask(taskId: string, revocation: RevocationInput): Promise<number>

  /** Revokes every live grant of one client, in batches (see {@link revokeByTask}). */
  revokeByClient(clientId: string, revocation: RevocationInput): Promise<number>

  /**
   * Revokes every live grant of every client: publishes `{v: 1, all: true}` first (verifiers drop
   * every cached grant at once), then revokes client by client in batches. Reaches every client
   * the store holds grants of, including grants no index names (a Redis store also walks its key
   * space for them: grants written by a broker from before the index).
   */
  revokeAll(revocation: RevocationInput): Promise<number>

  /**
   * Revokes every live grant that `approverSub` took part in approving (in
   * `grant.approval.approvers`), whatever its client: what to do when an approver's security key
   * is lost or stolen. In batches.
   */
  revokeByApprover(approverSub: string, revocation: RevocationInput): Promise<number>

  /**
   * Live grants of one client, or of every client (see {@link ListGrantsFilter}), optionally of
   * one task, oldest first (by `issuedAt`, then `expiresAt`, then `id`). Reads in bounded steps
   * however many grants there are.
   */
  listGrants(filter: ListGrantsFilter): Promise<Grant[]>

  /**
   * The grants created with `parent` (see {@link CreateGrantOptions.parent}) that may still be
   * live: every one that is, and perhaps some revoked since (callers check their state).
   */
  listChildren(parent: GrantRef): Promise<GrantRef[]>

  /** Every grant that has had children that may still be live (see {@link listChildren}). */
  listParents(): Promise<GrantRef[]>

  /**
   * Revokes the listed grants that are live (others are skipped), in batches: a tombstone each,
   * and one {@link RevocationMessage} per batch listing the batch's grants, published in the same
   * atomic step. Returns how many it revoked. A failure part-way throws
   * (`temporarily_unavailable`); what was revoked by then stays revoked.
   */
  revokeMany(grants: readonly GrantRef[], revocation: RevocationInput): Promise<number>

  countLiveGrants(clientId: string): Promise<number>
}
