import type { Clock } from '../clock.js'
import { storeUnavailable } from '../errors.js'
import type { Grant, GrantState, Revocation } from './grant.js'
import type { CreateGrantOptions, GrantStore, StoredKeySet } from './store.js'
import {
  assertCreatable,
  assertExpectedVersion,
  assertTtlSeconds,
  compareGrants,
  grantIdInUse,
  isAlive,
  jsonCopy,
  quotaExceeded,
} from './store-rules.js'

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
  /** Decides every expiry: grants, tombstones and single-use markers. */
  clock: Clock
  /**
   * Records held before the first sweep of expired ones. Later sweeps run whenever the number of
   * records doubles since the last one, so sweeping costs O(1) amortized per write. Default 1024.
   */
  sweepThreshold?: number
}

interface ClientRecord {
  grants: Map<string, Grant>
  tombstones: Map<string, Revocation>
}

/**
 * The embedded, single-process grant store: the zero-config default for one broker instance.
 *
 * Same semantics as the Redis store, exactly: liveness is decided by `clock` against each
 * record's expiry (expired records read as absent and are dropped lazily and by a sweep), the
 * quota check and the insert are one synchronous step (so concurrent calls cannot overshoot it),
 * and every record goes in and comes out as a JSON copy, so callers never share stored objects.
 * Nothing survives a restart and nothing is shared between processes.
 */
export function createMemoryStore(options: MemoryStoreOptions): GrantStore {
  const { clock } = options
  const minSweep = Math.max(1, options.sweepThreshold ?? 1024)
  const clients = new Map<string, ClientRecord>()
  /** Single-use markers: key → expiry (ms). */
  const markers = new Map<string, number>()
  let keySet: StoredKeySet | null = null
  let closed = false
  /** Records at the last sweep plus inserts since; an upper bound on the records held. */
  let records = 0
  let nextSweepAt = minSweep

  // Every method body below runs synchronously to completion before its promise settles, so each
  // one is atomic with respect to every other call, as a Lua script is in Redis.

  const ensureOpen = (): void => {
    // Ensure a closed store fails closed instead of answering from stale state.
    if (closed) throw storeUnavailable(new Error('the memory store is closed'))
  }

  const sweep = (now: number): void => {
    let kept = 0
    for (const [clientId, record] of clients) {
      for (const [id, grant] of record.grants) {
        if (isAlive(grant.expiresAt, now)) kept++
        else record.grants.delete(id)
      }
      for (const [id, tombstone] of record.tombstones) {
        if (isAlive(tombstone.expiresAt, now)) kept++
        else record.tombstones.delete(id)
      }
      if (record.grants.size === 0 && record.tombstones.size === 0) clients.delete(clientId)
    }
    for (const [key, expiresAtMs] of markers) {
      if (expiresAtMs > now) kept++
      else markers.delete(key)
    }
    records = kept
    nextSweepAt = Math.max(minSweep, kept * 2)
  }

  const inserted = (now: number): void => {
    if (++records >= nextSweepAt) sweep(now)
  }

  /** The client's live grants, dropping expired ones on the way. */
  const liveGrants = (record: ClientRecord | undefined, now: number): Grant[] => {
    if (!record) return []
    const live: Grant[] = []
    for (const [id, grant] of record.grants) {
      if (isAlive(grant.expiresAt, now)) live.push(grant)
      else record.grants.delete(id)
    }
    return live
  }

  return {
    kind: 'memory',

    async createGrant(grant: Grant, createOptions: CreateGrantOptions = {}): Promise<void> {
      ensureOpen()
      const now = clock()
      assertCreatable(grant, createOptions, now)
      const record = clients.get(grant.clientId)
      const live = liveGrants(record, now)

      // Ensure a grant id is never reused, least of all to resurrect a revoked grant.
      const tombstone = record?.tombstones.get(grant.id)
      if (live.some((g) => g.id === grant.id) || (tombstone && isAlive(tombstone.expiresAt, now))) {
        throw grantIdInUse()
      }

      // Ensure the client stays within its quota; nothing is recorded when it does not.
      const max = createOptions.maxLiveGrants
      if (max !== undefined && live.length >= max) {
        const earliest = live.reduce((min, g) => Math.min(min, g.expiresAt * 1000), Infinity)
        throw quotaExceeded(max, Number.isFinite(earliest) ? earliest : now, now)
      }

      const target = record ?? { grants: new Map(), tombstones: new Map() }
      target.grants.set(grant.id, jsonCopy(grant))
      clients.set(grant.clientId, target)
      inserted(now)
    },

    async getGrant(clientId: string, grantId: string): Promise<GrantState> {
      ensureOpen()
      const now = clock()
      const record = clients.get(clientId)
      const grant = record?.grants.get(grantId)
      if (grant && isAlive(grant.expiresAt, now)) return { state: 'live', grant: jsonCopy(grant) }
      const tombstone = record?.tombstones.get(grantId)
      if (tombstone && isAlive(tombstone.expiresAt, now)) {
        return { state: 'revoked', revocation: jsonCopy(tombstone) }
      }
      return { state: 'unknown' }
    },

    async revokeGrant(
      clientId: string,
      grantId: string,
      revocation: Pick<Revocation, 'by' | 'reason' | 'at'>,
    ): Promise<Grant | null> {
      ensureOpen()
      const now = clock()
      const record = clients.get(clientId)
      const grant = record?.grants.get(grantId)
      if (!record || !grant) return null
      record.grants.delete(grantId)
      // An expired grant is not live any more: nothing to revoke, no tombstone.
      if (!isAlive(grant.expiresAt, now)) return null
      record.tombstones.set(grantId, {
        grantId,
        clientId,
        by: revocation.by,
        reason: revocation.reason,
        at: revocation.at,
        expiresAt: grant.expiresAt,
      })
      return jsonCopy(grant)
    },

    async listGrants(filter: { clientId: string; taskId?: string }): Promise<Grant[]> {
      ensureOpen()
      const { taskId } = filter
      return liveGrants(clients.get(filter.clientId), clock())
        .filter((g) => taskId === undefined || g.task.id === taskId)
        .sort(compareGrants)
        .map(jsonCopy)
    },

    async countLiveGrants(clientId: string): Promise<number> {
      ensureOpen()
      return liveGrants(clients.get(clientId), clock()).length
    },

    async consumeOnce(scope: string, id: string, ttlSeconds: number): Promise<boolean> {
      ensureOpen()
      assertTtlSeconds(ttlSeconds)
      const now = clock()
      const key = JSON.stringify([scope, id])
      const expiresAtMs = markers.get(key)
      // Ensure a marker is taken once: a live marker means someone consumed it already.
      if (expiresAtMs !== undefined && expiresAtMs > now) return false
      markers.set(key, now + ttlSeconds * 1000)
      inserted(now)
      return true
    },

    async getKeySet(): Promise<StoredKeySet | null> {
      ensureOpen()
      return keySet && jsonCopy(keySet)
    },

    async putKeySet(data: string, expectedVersion: number | null): Promise<boolean> {
      ensureOpen()
      assertExpectedVersion(expectedVersion)
      // Ensure the writer saw the current version (compare-and-set), so no rotation is lost.
      const current = keySet?.version ?? null
      if (current !== expectedVersion) return false
      keySet = { version: (current ?? 0) + 1, data }
      return true
    },

    async ping(): Promise<void> {
      ensureOpen()
    },

    async close(): Promise<void> {
      closed = true
      clients.clear()
      markers.clear()
      keySet = null
    },
  }
}
