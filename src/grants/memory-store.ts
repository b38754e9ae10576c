import { lockRefusal } from '../locks/lock-refusal.js'
import { createMemoryLockStore } from '../locks/memory-store.js'
import { ExpiryHeap } from './expiry-heap.js'
import type { Grant, GrantState, Revocation } from './grant.js'
import type { MemoryBackend } from '../store/memory-backend.js'
import { ALL_REVOKED_MESSAGE } from '../store/revocation-feed.js'
import type {
  CreatedGrant,
  CreateGrantOptions,
  GrantRef,
  GrantStore,
  ListGrantsFilter,
  RevocationInput,
} from './store.js'
import {
  assertCreatable,
  chainEnded,
  chainOf,
  compareGrants,
  grantIdInUse,
  isAlive,
  jsonCopy,
  quotaExceeded,
  revocationBatchSize,
  revokedMessage,
  tombstoneFor,
} from './store-rules.js'

/** Options of {@link createMemoryGrantStore}. */
export interface MemoryGrantStoreOptions {
  /**
   * Records held before the first sweep of expired ones. Later sweeps run whenever the number of
   * records doubles since the last one, so sweeping costs O(1) amortized per write. Default 1024.
   */
  sweepThreshold?: number
  /** Grants revoked per step of a bulk revocation, and listed per message. Default 500. */
  revocationBatchSize?: number
}

interface ClientRecord {
  grants: Map<string, Grant>
  tombstones: Map<string, Revocation>
  /** When each grant in `grants` expires, earliest first (see `prune`). */
  expiries: ExpiryHeap
}

/** A grant's key in the delegation maps: client and id joined by NUL (ids never hold NUL). */
const refKey = (ref: GrantRef): string => `${ref.clientId}\u0000${ref.grantId}`

/** Lets other work run between the batches of a bulk revocation. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * The embedded, single-process grant store: the zero-config default for one broker instance.
 *
 * Same semantics as the Redis store, exactly: liveness is decided by `clock` against each
 * record's expiry (expired records read as absent and are dropped lazily and by a sweep), the
 * quota check and the insert are one synchronous step (so concurrent calls cannot overshoot it),
 * and every record goes in and comes out as a JSON copy, so callers never share stored objects.
 * Nothing survives a restart and nothing is shared between processes. Revocation messages go to
 * subscribers in this process, synchronously, before the revoking call returns.
 */
export function createMemoryGrantStore(
  backend: MemoryBackend,
  options: MemoryGrantStoreOptions = {},
): GrantStore {
  const { clock, ensureOpen, publish } = backend
  const minSweep = Math.max(1, options.sweepThreshold ?? 1024)
  const batchSize = revocationBatchSize(options.revocationBatchSize)
  const clients = new Map<string, ClientRecord>()
  /** Grant id → its client, for the grant's (and its tombstone's) life: for `findGrant`. */
  const owners = new Map<string, { clientId: string; expiresAt: number }>()
  /**
   * Delegation: per parent (`refKey`), its children and their expiries; a parent is listed while
   * any child may live. Written in the same step as the child grant.
   */
  const children = new Map<string, { parent: GrantRef; kids: Map<string, GrantRef & { expiresAt: number }> }>()
  /** Records at the last sweep plus inserts since; an upper bound on the records held. */
  let records = 0
  let nextSweepAt = minSweep

  // Every method body below runs synchronously to completion before its promise settles, so each
  // one is atomic with respect to every other call, as a Lua script is in Redis. Bulk revocations
  // are the exception by design: each batch is one such step, and other calls run between them.

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
    for (const [id, owner] of owners) {
      if (isAlive(owner.expiresAt, now)) kept++
      else owners.delete(id)
    }
    for (const [key, family] of children) {
      for (const [kid, child] of family.kids) {
        if (isAlive(child.expiresAt, now)) kept++
        else family.kids.delete(kid)
      }
      if (family.kids.size === 0) children.delete(key)
    }
    records = kept
    nextSweepAt = Math.max(minSweep, kept * 2)
  }

  const inserted = (now: number): void => {
    if (++records >= nextSweepAt) sweep(now)
  }

  /**
   * Drops the client's expired grants, earliest first, without walking the others: afterwards
   * every grant in `record.grants` is live, so its size is the live count. Amortized O(log n) per
   * grant over its life. Heap entries of grants already gone (revoked) are skipped.
   */
  const prune = (record: ClientRecord, now: number): void => {
    for (let top = record.expiries.peek(); top !== undefined; top = record.expiries.peek()) {
      const grant = record.grants.get(top.id)
      const current = grant !== undefined && grant.expiresAt * 1000 === top.expiresAtMs
      if (current && isAlive(grant.expiresAt, now)) return
      record.expiries.pop()
      if (current) record.grants.delete(top.id)
    }
  }

  /** The earliest expiry among the client's live grants, in ms: `prune` leaves it on top. */
  const earliestExpiryMs = (record: ClientRecord, now: number): number =>
    record.expiries.peek()?.expiresAtMs ?? now

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

  const stateOf = (clientId: string, grantId: string, now: number): GrantState => {
    const record = clients.get(clientId)
    const grant = record?.grants.get(grantId)
    if (grant && isAlive(grant.expiresAt, now)) return { state: 'live', grant: jsonCopy(grant) }
    const tombstone = record?.tombstones.get(grantId)
    if (tombstone && isAlive(tombstone.expiresAt, now)) {
      return { state: 'revoked', revocation: jsonCopy(tombstone) }
    }
    return { state: 'unknown' }
  }

  /** Revokes one live grant of `record`: out of the live set, a tombstone in. */
  const revokeLive = (record: ClientRecord, grant: Grant, revocation: RevocationInput): void => {
    record.grants.delete(grant.id)
    record.tombstones.set(grant.id, tombstoneFor(grant, revocation))
  }

  /**
   * Revokes, batch by batch, the live grants of `clientIds` (every client with records when
   * omitted) that `select` picks; each batch is one synchronous step and publishes one message
   * listing its grants.
   */
  const revokeInBatches = async (
    clientIds: readonly string[] | undefined,
    select: (grant: Grant) => boolean,
    revocation: RevocationInput,
  ): Promise<number> => {
    let total = 0
    for (;;) {
      ensureOpen()
      const now = clock()
      const batch: Array<{ record: ClientRecord; grant: Grant }> = []
      // Ensure every client with live grants is reached, not only the ones a caller names.
      collect: for (const clientId of clientIds ?? [...clients.keys()]) {
        const record = clients.get(clientId)
        if (!record) continue
        for (const grant of record.grants.values()) {
          if (!isAlive(grant.expiresAt, now) || !select(grant)) continue
          batch.push({ record, grant })
          if (batch.length === batchSize) break collect
        }
      }
      if (batch.length === 0) return total
      for (const { record, grant } of batch) revokeLive(record, grant, revocation)
      publish(revokedMessage(batch.map((b) => b.grant)))
      total += batch.length
      if (batch.length < batchSize) return total
      await nextTurn()
    }
  }

  const locks = createMemoryLockStore({ clock, ensureOpen })

  return {
    locks,

    async createGrant(grant: Grant, createOptions: CreateGrantOptions = {}): Promise<CreatedGrant> {
      ensureOpen()
      if (createOptions.auditIntake) {
        throw new TypeError('the memory store cannot take audit events in (see takesAuditIntake)')
      }
      const now = clock()
      assertCreatable(grant, createOptions, now)
      // Ensure no grant is recorded for a locked client, task or approver (same step as the insert).
      const lock = createOptions.unlessLocked ? locks.activeLock(createOptions.unlessLocked) : null
      if (lock) throw lockRefusal(lock)
      const record = clients.get(grant.clientId)
      // Every grant left in the record is live: the count and the id check need no walk.
      if (record) prune(record, now)

      // Ensure a grant id is never reused, least of all to resurrect a revoked grant.
      const tombstone = record?.tombstones.get(grant.id)
      if (record?.grants.has(grant.id) || (tombstone && isAlive(tombstone.expiresAt, now))) {
        throw grantIdInUse()
      }

      // Ensure the client stays within its quota; nothing is recorded when it does not.
      const max = createOptions.maxLiveGrants
      if (max !== undefined && (record?.grants.size ?? 0) >= max) {
        throw quotaExceeded(max, record ? earliestExpiryMs(record, now) : now, now)
      }

      // Ensure a delegated grant is recorded only under a live parent whose chain is live up to
      // its root, and listed under the parent in the same step, so the parent's revocation finds it.
      const parent = createOptions.parent
      if (parent) {
        const ended = chainOf(createOptions).find((ref) => stateOf(ref.clientId, ref.grantId, now).state !== 'live')
        if (ended) throw chainEnded(ended, parent)
      }
      if (parent) {
        const key = refKey(parent)
        const family = children.get(key) ?? { parent: { ...parent }, kids: new Map() }
        family.kids.set(refKey({ clientId: grant.clientId, grantId: grant.id }), {
          clientId: grant.clientId,
          grantId: grant.id,
          expiresAt: grant.expiresAt,
        })
        children.set(key, family)
        records++
      }
      const target = record ?? { grants: new Map(), tombstones: new Map(), expiries: new ExpiryHeap() }
      target.grants.set(grant.id, jsonCopy(grant))
      target.expiries.push(grant.expiresAt * 1000, grant.id)
      clients.set(grant.clientId, target)
      const owner = owners.get(grant.id)
      if (!owner || !isAlive(owner.expiresAt, now)) {
        owners.set(grant.id, { clientId: grant.clientId, expiresAt: grant.expiresAt })
        records++
      }
      inserted(now)
      return {}
    },

    async getGrant(clientId: string, grantId: string): Promise<GrantState> {
      ensureOpen()
      return stateOf(clientId, grantId, clock())
    },

    async findGrant(grantId: string): Promise<GrantState> {
      ensureOpen()
      const now = clock()
      const owner = owners.get(grantId)
      if (!owner || !isAlive(owner.expiresAt, now)) return { state: 'unknown' }
      return stateOf(owner.clientId, grantId, now)
    },

    async revokeGrant(
      clientId: string,
      grantId: string,
      revocation: RevocationInput,
    ): Promise<Grant | null> {
      ensureOpen()
      const now = clock()
      const record = clients.get(clientId)
      const grant = record?.grants.get(grantId)
      if (!record || !grant) return null
      // An expired grant is not live any more: nothing to revoke, no tombstone.
      if (!isAlive(grant.expiresAt, now)) {
        record.grants.delete(grantId)
        return null
      }
      revokeLive(record, grant, revocation)
      publish(revokedMessage([grant]))
      return jsonCopy(grant)
    },

    revokeByTask(taskId: string, revocation: RevocationInput) {
      return revokeInBatches(undefined, (g) => g.task.id === taskId, revocation)
    },

    revokeByClient(clientId: string, revocation: RevocationInput) {
      return revokeInBatches([clientId], () => true, revocation)
    },

    async revokeAll(revocation: RevocationInput): Promise<number> {
      ensureOpen()
      publish(ALL_REVOKED_MESSAGE)
      return revokeInBatches(undefined, () => true, revocation)
    },

    revokeByApprover(approverSub: string, revocation: RevocationInput) {
      const approved = (g: Grant): boolean =>
        g.approval?.approvers.some((a) => a.sub === approverSub) ?? false
      return revokeInBatches(undefined, approved, revocation)
    },

    async listGrants(filter: ListGrantsFilter): Promise<Grant[]> {
      ensureOpen()
      const { clientId, taskId } = filter
      const now = clock()
      return (clientId === undefined ? [...clients.keys()] : [clientId])
        .flatMap((clientId) => liveGrants(clients.get(clientId), now))
        .filter((g) => taskId === undefined || g.task.id === taskId)
        .sort(compareGrants)
        .map(jsonCopy)
    },

    async listChildren(parent: GrantRef): Promise<GrantRef[]> {
      ensureOpen()
      const now = clock()
      const family = children.get(refKey(parent))
      return [...(family?.kids.values() ?? [])]
        .filter((kid) => isAlive(kid.expiresAt, now))
        .map((kid) => ({ clientId: kid.clientId, grantId: kid.grantId }))
    },

    async listParents(): Promise<GrantRef[]> {
      ensureOpen()
      const now = clock()
      return [...children.values()]
        .filter((family) => [...family.kids.values()].some((kid) => isAlive(kid.expiresAt, now)))
        .map((family) => ({ ...family.parent }))
    },

    async revokeMany(grants: readonly GrantRef[], revocation: RevocationInput): Promise<number> {
      let revoked = 0
      for (let start = 0; start < grants.length; start += batchSize) {
        ensureOpen()
        if (start > 0) await nextTurn()
        const now = clock()
        const batch: Grant[] = []
        for (const ref of grants.slice(start, start + batchSize)) {
          const record = clients.get(ref.clientId)
          const grant = record?.grants.get(ref.grantId)
          if (!record || !grant || !isAlive(grant.expiresAt, now)) continue
          revokeLive(record, grant, revocation)
          batch.push(grant)
        }
        revoked += batch.length
        if (batch.length > 0) publish(revokedMessage(batch))
      }
      return revoked
    },

    async countLiveGrants(clientId: string): Promise<number> {
      ensureOpen()
      const record = clients.get(clientId)
      if (!record) return 0
      prune(record, clock())
      return record.grants.size
    },
  }
}
