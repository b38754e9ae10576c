import { WritError } from '../errors.js'
import type { Grant, Revocation } from './grant.js'
import type { RevocationMessage } from '../wire/revocation-message.js'
import type { CreateGrantOptions, GrantRef, RevocationInput } from './store.js'

/*
 * Rules both store implementations apply identically, so the contract suite can hold them to one
 * behaviour. Liveness is decided by the injected clock against `expiresAt`; backing-store TTLs
 * (Redis PX/EX, the memory sweep) only reclaim space.
 */

/** Whether something that expires at `expiresAtSeconds` is still alive at `nowMs`. */
export const isAlive = (expiresAtSeconds: number, nowMs: number): boolean =>
  expiresAtSeconds * 1000 > nowMs

/** The client has as many live grants as its quota allows. */
export function quotaExceeded(
  maxLiveGrants: number,
  earliestExpiryMs: number,
  nowMs: number,
): WritError {
  return new WritError(
    'quota_exceeded',
    429,
    'the client has reached its limit of live grants; wait for one to expire or revoke one',
    {
      detail: `maxLiveGrants=${maxLiveGrants}`,
      retryAfterSeconds: Math.max(1, Math.ceil((earliestExpiryMs - nowMs) / 1000)),
    },
  )
}

/** Thrown by `createGrant` when the grant id is already in use (live or tombstoned). */
export function grantIdInUse(): WritError {
  return new WritError('server_error', 500, 'grant id collision', {
    detail: 'a grant or tombstone with this id already exists; grant ids must be unique',
  })
}

/**
 * A grant whose life ran out before it could be recorded: the store records no expired grant.
 * Issuance answers it as a retryable refusal (see `recordGrant`), never as a server error.
 */
export class GrantExpiredError extends RangeError {
  constructor(grant: Pick<Grant, 'id' | 'expiresAt'>) {
    super(`grant ${grant.id} has already expired (expiresAt ${grant.expiresAt})`)
    this.name = 'GrantExpiredError'
  }
}

/**
 * Checks `createGrant`'s arguments. Programming errors, not caller input, so they are plain
 * RangeErrors (a generic 500).
 */
export function assertCreatable(grant: Grant, options: CreateGrantOptions, nowMs: number): void {
  // Ensure an already expired grant is never recorded as live.
  if (!Number.isFinite(grant.expiresAt)) throw new RangeError(`grant ${grant.id} has no expiry`)
  if (!isAlive(grant.expiresAt, nowMs)) throw new GrantExpiredError(grant)
  // Ensure an approval is for the grant's own manifest (issuance checks it; the record, like the
  // grant.issued event, keeps one manifest hash for both).
  if (grant.approval && grant.approval.manifestSha256 !== grant.manifestSha256) {
    throw new RangeError(`grant ${grant.id} carries an approval of another manifest`)
  }
  const max = options.maxLiveGrants
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 0)) {
    throw new RangeError(`maxLiveGrants must be a non-negative integer, got ${max}`)
  }
  // Ensure the chain checked is the one the grant is listed under: its last link is the parent.
  const { parent, ancestors } = options
  if (ancestors !== undefined) {
    const last = ancestors.at(-1)
    if (!parent || !last || last.clientId !== parent.clientId || last.grantId !== parent.grantId) {
      throw new RangeError(`grant ${grant.id}: ancestors must end with its parent`)
    }
  }
}

/** The grants that must be live for a delegated grant to be recorded: its whole chain, root first. */
export function chainOf(options: CreateGrantOptions): readonly GrantRef[] {
  return options.ancestors ?? (options.parent ? [options.parent] : [])
}

/** The refusal of a grant whose parent, or a grant above it, is not live (`ended`). */
export function chainEnded(ended: GrantRef, parent: GrantRef): WritError {
  const message =
    ended.grantId === parent.grantId
      ? `subject_token: its grant ${parent.grantId} is not live`
      : `subject_token: grant ${ended.grantId}, which it was delegated from, is not live`
  return new WritError('invalid_request', 400, message)
}

/** Oldest first: by `issuedAt`, then `expiresAt`, then `id`, so both stores order ties alike. */
export function compareGrants(a: Grant, b: Grant): number {
  const byId = a.id < b.id ? -1 : a.id > b.id ? 1 : 0
  return a.issuedAt - b.issuedAt || a.expiresAt - b.expiresAt || byId
}

/**
 * A deep copy through JSON, exactly what a Redis round trip produces (undefined fields vanish), so
 * callers can never mutate stored state and both stores return the same shapes.
 */
export const jsonCopy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T

/** Grants revoked per step of a bulk revocation, and listed per message, unless configured. */
export const DEFAULT_REVOCATION_BATCH_SIZE = 500

/** A store's `revocationBatchSize` option: a whole number from 1 to 10,000. */
export function revocationBatchSize(value: number | undefined): number {
  const size = value ?? DEFAULT_REVOCATION_BATCH_SIZE
  if (!Number.isSafeInteger(size) || size < 1 || size > 10_000) {
    throw new TypeError(`revocationBatchSize must be an integer from 1 to 10000, got ${size}`)
  }
  return size
}

/** The tombstone a revoked grant leaves: who, why and when, until the grant's original expiry. */
export function tombstoneFor(grant: Grant, revocation: RevocationInput): Revocation {
  return {
    grantId: grant.id,
    clientId: grant.clientId,
    by: revocation.by,
    reason: revocation.reason,
    at: revocation.at,
    expiresAt: grant.expiresAt,
  }
}

/** The message announcing that `grants` were revoked. */
export function revokedMessage(grants: readonly Grant[]): RevocationMessage {
  return { v: 1, grants: grants.map((g) => ({ id: g.id, clientId: g.clientId, exp: g.expiresAt })) }
}

/** Distinct approver ids of a grant's approval (none without one). */
export function approverSubsOf(grant: Grant): string[] {
  return [...new Set(grant.approval?.approvers.map((a) => a.sub) ?? [])]
}
