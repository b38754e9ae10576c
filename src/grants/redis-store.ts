import { Redis } from 'ioredis'
import { isoTime } from '../audit/iso-time.js'
import { storeUnavailable } from '../errors.js'
import { lockRefusal } from '../locks/lock-refusal.js'
import { createRedisLockStore } from '../locks/redis-store.js'
import type { LockTarget } from '../locks/types.js'
import type { Grant, GrantState, Revocation } from './grant.js'
import { encodeGrantRecord, parseGrantRecord } from './grant-record.js'
import type { RedisBackend } from '../store/redis-backend.js'
import { ALL_REVOKED_MESSAGE } from '../store/revocation-feed.js'
import { approverMember, parseApproverMember } from '../wire/keys.js'
import type {
  CreatedGrant,
  CreateGrantOptions,
  GrantRef,
  GrantStore,
  ListGrantsFilter,
  RevocationInput,
} from './store.js'
import {
  approverSubsOf,
  assertCreatable,
  chainEnded,
  chainOf,
  compareGrants,
  grantIdInUse,
  isAlive,
  quotaExceeded,
  revocationBatchSize,
  revokedMessage,
  tombstoneFor,
} from './store-rules.js'

/** How often a revocation re-reads grants that changed between its read and its script. */
const MAX_REVOKE_ATTEMPTS = 3

/**
 * Most bytes of grant JSON one batch script is given (it compares each grant with what was read),
 * so a batch of unusually large grants is split and no script call grows large.
 */
const MAX_BATCH_SCRIPT_BYTES = 1024 * 1024

/** Members read per ZSCAN step and keys per MGET when listing grants. */
const LIST_STEP = 500

/** Keys each SCAN step of revoke-all's walk over the key space looks at. */
const SWEEP_STEP = 1000

/*
 * Lua scripts, each one atomic on the server. All keys a script touches are declared in KEYS and
 * share the `{c:<clientId>}` hash tag, so they also run on Redis Cluster. Times are passed in by
 * the caller (its clock), never read from Redis TIME. Numbers are formatted with '%.0f' so large
 * millisecond values never reach Redis in exponent notation.
 */

/**
 * KEYS: grant, tombstone, client live index, task index, and the audit log's stream when the
 * grant's `grant.issued` event is taken in with it (then also the log's hash of first seqs, when
 * the event's grant reference is indexed with it); last, the lock markers to honour (`n` of them).
 * ARGV: grant record (the event's canonical JSON: also the stream entry's body), grant id, expiry
 * (ms), now (ms), quota ('' for none), the grant's index reference (with the hash); last, `n`.
 * Returns {1} created (or {1, stream entry id, 1 if indexed else 0} with the audit event),
 * {0, earliest expiry ms} quota reached, {-1} id already in use, {-2, lock id} a target is locked;
 * neither the grant nor the audit event is written unless created (expired index entries are
 * pruned either way).
 */
const CREATE_GRANT_LUA = `
local locks = tonumber(ARGV[#ARGV])
local nkeys = #KEYS - locks
-- One EXISTS answers the usual case (no target was ever locked, or its markers expired).
if locks > 0 and redis.call('EXISTS', unpack(KEYS, nkeys + 1)) > 0 then
  for i = nkeys + 1, #KEYS do
    local lock = redis.call('ZRANGEBYSCORE', KEYS[i], '(' .. ARGV[4], '+inf', 'LIMIT', 0, 1)
    if lock[1] then
      return {-2, lock[1]}
    end
  end
end
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then
  return {-1}
end
local life = math.floor(tonumber(ARGV[3]) - tonumber(ARGV[4]))
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[4])
if ARGV[5] ~= '' and redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[5]) then
  local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return {0, first[2] or ARGV[4]}
end
-- The audit event first: when it cannot be written (the script stops), neither is the grant.
local entry = false
local indexed = 0
if nkeys >= 5 then
  entry = redis.call('XADD', KEYS[5], '0-*', 'e', ARGV[1])
  -- A new grant's first event; HSETNX keeps an earlier grant's of the same id. An index that
  -- cannot be written (pcall) fails nothing: the log's chaining indexes the event then.
  if nkeys >= 6 then
    local set = redis.pcall('HSETNX', KEYS[6], ARGV[6], string.sub(entry, 3))
    if type(set) == 'number' then indexed = set end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', life)
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
-- An index lives as long as its longest-lived member: extend, never shorten (PTTL -1 = no TTL yet).
for i = 3, 4 do
  if redis.call('PTTL', KEYS[i]) < life then
    redis.call('PEXPIRE', KEYS[i], life)
  end
end
if entry then
  return {1, entry, indexed}
end
return {1}
`

/**
 * KEYS: grant, tombstone, client live index, task index.
 * ARGV: grant JSON as the caller read it, grant id, tombstone JSON, tombstone life (ms),
 * revocation channel, revocation message.
 * Returns 1 revoked (and the message published), 0 not there any more, -1 the record changed
 * since the caller read it.
 */
const REVOKE_GRANT_LUA = `
local current = redis.call('GET', KEYS[1])
if not current then
  return 0
end
if current ~= ARGV[1] then
  return -1
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
`

/**
 * One batch of a bulk revocation, all of one client.
 * KEYS: client live index, the index being drained (the live index or a task index), the task
 * indexes of the batch's grants (t of them), then a grant key and a tombstone key per grant.
 * ARGV: revocation channel, client id, t, then six values per grant: grant id, grant JSON as the
 * caller read it ('' when it found none), tombstone JSON, tombstone life (ms), expiry (s), and the
 * position in KEYS of its task index.
 * Revokes each grant that is still exactly as read, drops the index entries of grants that are
 * gone, leaves grants that changed (the caller retries), and publishes one message listing what it
 * revoked, in the same atomic step. Returns {revoked, changed}.
 */
const REVOKE_BATCH_LUA = `
local tasks = tonumber(ARGV[3])
local first = 3 + tasks
local drained = KEYS[2] ~= KEYS[1]
local revoked = {}
local changed = 0
for i = 0, (#ARGV - 3) / 6 - 1 do
  local a = 4 + 6 * i
  local id = ARGV[a]
  local grantKey = KEYS[first + 2 * i]
  local current = redis.call('GET', grantKey)
  if not current then
    redis.call('ZREM', KEYS[1], id)
    if drained then redis.call('ZREM', KEYS[2], id) end
  elseif current == ARGV[a + 1] then
    redis.call('DEL', grantKey)
    redis.call('SET', KEYS[first + 2 * i + 1], ARGV[a + 2], 'PX', ARGV[a + 3])
    redis.call('ZREM', KEYS[1], id)
    if drained then redis.call('ZREM', KEYS[2], id) end
    redis.call('ZREM', KEYS[tonumber(ARGV[a + 5])], id)
    revoked[#revoked + 1] = { id = id, clientId = ARGV[2], exp = tonumber(ARGV[a + 4]) }
  else
    changed = changed + 1
  end
end
if #revoked > 0 then
  redis.call('PUBLISH', ARGV[1], cjson.encode({ v = 1, grants = revoked }))
end
return { #revoked, changed }
`

/**
 * KEYS: an index zset outside the client's slot (an approver's grants).
 * ARGV: score (expiry ms), member, now (ms), life (ms).
 * Adds the member, prunes expired members, and keeps the index as long as its longest-lived member.
 */
const INDEX_ADD_LUA = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1
`

type ScriptArg = string | number

interface WritScripts {
  writCreateGrant(...args: ScriptArg[]): Promise<[number, string?, number?]>
  writRevokeGrant(...args: ScriptArg[]): Promise<number>
  writRevokeBatch(numberOfKeys: number, ...args: ScriptArg[]): Promise<[number, number]>
  writIndexAdd(...args: ScriptArg[]): Promise<number>
}

/** One grant's part of a batch script call. */
interface BatchEntry {
  id: string
  /** The grant JSON as read, '' when none was found. */
  json: string
  tombstone: string
  lifeMs: number
  /** The grant's expiry (s), for the message. */
  exp: number
  /** Its task index, null when the grant was not found. */
  taskKey: string | null
}

/** The grants an index of {@link approverMember}s lists. */
function refsOf(members: readonly string[]): GrantRef[] {
  const refs: GrantRef[] = []
  for (const member of members) {
    const parsed = parseApproverMember(member)
    if (parsed) refs.push(parsed)
  }
  return refs
}

/**
 * Options of {@link createRedisGrantStore}.
 */
export interface RedisGrantStoreOptions {
  /** Grants revoked per step of a bulk revocation, and listed per message. Default 500. */
  revocationBatchSize?: number
}

/**
 * The Redis grant store, on a single Redis, on Sentinel or on Redis Cluster, on the store's
 * connection ({@link RedisBackend}: it fails closed, 503, within the command timeout).
 *
 * Cluster: every script's keys share one hash tag (see `wire/keys.ts`), bulk operations go client by
 * client, and revocation messages use PUBLISH, which a Cluster broadcasts to every node (see
 * `store/redis-revocation-feed.ts`). The WritErrors besides 503 are the contract's
 * `quota_exceeded` and id-collision `server_error`.
 *
 * Expiry and clocks: liveness is decided by the broker's `clock`, the clock that computed the
 * grant's `expiresAt` — a record is live while it exists in Redis and `expiresAt * 1000 > clock()`.
 * TTLs are relative (`PX = expiresAt * 1000 - clock()`), never absolute (`PEXPIREAT`), so Redis
 * keeps a record for exactly its remaining life whatever Redis's own wall clock says: an absolute
 * expiry would let a record outlive its token when Redis's clock runs behind, or drop it at once
 * when it runs ahead. Index scores are expiries in the broker's clock, pruned with the caller's
 * time. Skew between broker replicas shifts liveness by the skew at most, and never beyond the
 * Redis TTL set at creation; keep replicas on NTP.
 *
 * Redis must not evict keys (`maxmemory-policy noeviction`): an evicted grant reads as unknown
 * (fails safe) but would still count against its client's quota until it expires.
 *
 * Revocation: every revoking script publishes its message on `<prefix>revocations` in the same
 * atomic step as the change, so no revocation is ever recorded without being announced. Bulk
 * revocations drain an index page by page (`revocationBatchSize` grants per script, default 500),
 * so revoking 100,000 grants is a few hundred short commands, never one long one.
 *
 * @example
 * ```ts
 * const grants = createRedisGrantStore(createRedisBackend({ url, clock: systemClock }))
 * ```
 */
export function createRedisGrantStore(
  backend: RedisBackend,
  options: RedisGrantStoreOptions = {},
): GrantStore {
  const { redis, keys, clock, run, replicated, cluster } = backend
  const batchSize = revocationBatchSize(options.revocationBatchSize)
  const channel = keys.revocationChannel()
  const isoNow = isoTime(clock)
  redis.defineCommand('writCreateGrant', { lua: CREATE_GRANT_LUA })
  redis.defineCommand('writRevokeGrant', { numberOfKeys: 4, lua: REVOKE_GRANT_LUA })
  redis.defineCommand('writRevokeBatch', { lua: REVOKE_BATCH_LUA })
  redis.defineCommand('writIndexAdd', { numberOfKeys: 1, lua: INDEX_ADD_LUA })
  const scripts = redis as unknown as WritScripts

  const parse = <T>(json: string): T => JSON.parse(json) as T

  const readState = async (clientId: string, grantId: string): Promise<GrantState> => {
    const [grantJson, tombstoneJson] = await run(() =>
      redis.mget(keys.grant(clientId, grantId), keys.tombstone(clientId, grantId)),
    )
    const now = clock()
    if (grantJson) {
      const grant = parseGrantRecord(grantJson)
      if (isAlive(grant.expiresAt, now)) return { state: 'live', grant }
    }
    if (tombstoneJson) {
      const revocation = parse<Revocation>(tombstoneJson)
      if (isAlive(revocation.expiresAt, now)) return { state: 'revoked', revocation }
    }
    return { state: 'unknown' }
  }

  /** Ids of an index whose score (expiry) is still ahead, read in bounded ZSCAN steps. */
  const scanLiveIds = async (index: string, now: number): Promise<string[]> => {
    const ids = new Set<string>()
    let cursor = '0'
    do {
      const [next, flat] = await redis.zscan(index, cursor, 'COUNT', LIST_STEP)
      for (let i = 0; i + 1 < flat.length; i += 2) {
        if (Number(flat[i + 1]) > now) ids.add(flat[i]!)
      }
      cursor = next
    } while (cursor !== '0')
    return [...ids]
  }

  /**
   * Every client the index of clients names whose latest grant may still be live (its score is
   * ahead), in bounded ZSCAN steps, after pruning the entries whose score has passed. An entry is
   * dropped only then, never when a client's grants are revoked: a grant created meanwhile would
   * lose its entry. The index has no TTL: it holds one small entry per client with live grants.
   */
  const indexedClients = async (): Promise<string[]> => {
    const now = clock()
    await redis.zremrangebyscore(keys.clients(), '-inf', now)
    return scanLiveIds(keys.clients(), now)
  }

  /**
   * Every client with a live index under this prefix, found by walking the key space in SCAN steps
   * of {@link SWEEP_STEP} keys (on every master of a Cluster): what revoke-all reaches besides the
   * index of clients.
   */
  const sweepClients = async (): Promise<string[]> => {
    const found = new Set<string>()
    const nodes = redis instanceof Redis ? [redis] : redis.nodes('master')
    for (const node of nodes) {
      let cursor = '0'
      do {
        const [next, batch] = await node.scan(
          cursor,
          'MATCH',
          keys.livePattern(),
          'COUNT',
          SWEEP_STEP,
        )
        for (const key of batch) {
          const clientId = keys.clientOfLive(key)
          if (clientId !== null) found.add(clientId)
        }
        cursor = next
      } while (cursor !== '0')
    }
    return [...found]
  }

  /** Runs one batch script; returns what it revoked and how many grants had changed. */
  const runBatch = async (
    clientId: string,
    drained: string,
    entries: BatchEntry[],
  ): Promise<{ revoked: number; changed: number }> => {
    const taskKeys: string[] = []
    const taskPosition = new Map<string, number>()
    for (const e of entries) {
      if (e.taskKey === null || taskPosition.has(e.taskKey)) continue
      taskKeys.push(e.taskKey)
      taskPosition.set(e.taskKey, 2 + taskKeys.length)
    }
    const scriptKeys = [keys.live(clientId), drained, ...taskKeys]
    const args: ScriptArg[] = [channel, clientId, taskKeys.length]
    for (const e of entries) {
      scriptKeys.push(keys.grant(clientId, e.id), keys.tombstone(clientId, e.id))
      const position = e.taskKey === null ? 2 : taskPosition.get(e.taskKey)!
      args.push(e.id, e.json, e.tombstone, e.lifeMs, e.exp, position)
    }
    const [revoked, changed] = await scripts.writRevokeBatch(
      scriptKeys.length,
      ...scriptKeys,
      ...args,
    )
    return { revoked, changed }
  }

  /**
   * Revokes the listed grants of one client and clears their entries from `drained` (an index of
   * that client), in batch scripts of bounded size. Afterwards every listed grant is revoked, gone
   * or expired, or this throws. Returns how many it revoked, and how many index entries it cleared.
   */
  const revokeListed = async (
    clientId: string,
    ids: readonly string[],
    drained: string,
    revocation: RevocationInput,
  ): Promise<{ revoked: number; cleared: number }> => {
    let revoked = 0
    let cleared = 0
    let pending = ids
    for (let attempt = 0; pending.length > 0; attempt++) {
      // Two steps, as in revokeGrant: the task indexes depend on the grants' records.
      if (attempt === MAX_REVOKE_ATTEMPTS) {
        throw storeUnavailable(new Error(`grants of ${clientId} kept changing while being revoked`))
      }
      const jsons = await redis.mget(pending.map((id) => keys.grant(clientId, id)))
      const now = clock()
      const retry: string[] = []
      let batch: BatchEntry[] = []
      let bytes = 0
      const flush = async (): Promise<void> => {
        if (batch.length === 0) return
        const result = await runBatch(clientId, drained, batch)
        revoked += result.revoked
        if (result.changed > 0) retry.push(...batch.map((e) => e.id))
        else cleared += batch.length
        batch = []
        bytes = 0
      }
      for (let i = 0; i < pending.length; i++) {
        const id = pending[i]!
        const json = jsons[i] ?? null
        let entry: BatchEntry
        if (json === null) {
          entry = { id, json: '', tombstone: '', lifeMs: 1, exp: 0, taskKey: null }
        } else {
          const grant = parseGrantRecord(json)
          // An expired grant is not live any more: nothing to revoke, no tombstone.
          if (!isAlive(grant.expiresAt, now)) continue
          entry = {
            id,
            json,
            tombstone: JSON.stringify(tombstoneFor(grant, revocation)),
            lifeMs: Math.ceil(grant.expiresAt * 1000 - now),
            exp: grant.expiresAt,
            taskKey: keys.task(clientId, grant.task.id),
          }
        }
        const size = entry.json.length + entry.tombstone.length
        if (batch.length > 0 && bytes + size > MAX_BATCH_SCRIPT_BYTES) await flush()
        batch.push(entry)
        bytes += size
      }
      await flush()
      pending = retry
    }
    return { revoked, cleared }
  }

  /** The first page of an index's members whose score (expiry) is still ahead. */
  const firstLive = (index: string): Promise<string[]> =>
    redis.zrange(index, `(${clock()}`, '+inf', 'BYSCORE', 'LIMIT', 0, batchSize)

  /** Revokes every live grant an index of one client lists, page by page. */
  const drain = async (
    clientId: string,
    index: string,
    revocation: RevocationInput,
  ): Promise<number> => {
    let total = 0
    let stalls = 0
    for (;;) {
      const page = await firstLive(index)
      if (page.length === 0) return total
      const { revoked, cleared } = await revokeListed(clientId, page, index, revocation)
      total += revoked
      // Ensure a bulk revocation ends: each page must clear entries from the index it drains.
      if (cleared > 0) stalls = 0
      else if (++stalls === MAX_REVOKE_ATTEMPTS) {
        throw storeUnavailable(new Error(`${index} lists grants that do not match their records`))
      }
    }
  }

  const locks = createRedisLockStore({ redis, keys, clock, run })

  const store: GrantStore = {
    locks,

    takesAuditIntake: (client) => client === redis && !cluster,

    async createGrant(grant: Grant, createOptions: CreateGrantOptions = {}): Promise<CreatedGrant> {
      const now = clock()
      assertCreatable(grant, createOptions, now)
      const { auditIntake, detailsJson } = createOptions
      // Ensure the stream shares the grant's server: on Cluster it lives in another slot.
      if (auditIntake && cluster) {
        throw new TypeError('auditIntake is not supported on Redis Cluster (see takesAuditIntake)')
      }
      const max = createOptions.maxLiveGrants
      const expiryMs = grant.expiresAt * 1000
      const lifeMs = Math.max(1, Math.floor(expiryMs - now))
      // The id pointer, the index of clients and the approver indexes live in other slots, so they
      // cannot be part of the script; they are sent in the same pipeline, right after it. NX keeps
      // a pointer that is in use; entries written for a grant the script then refused point at
      // nothing and are skipped. Any failure fails the whole call, so no token is minted for a
      // grant missing from an index.
      const index = auditIntake?.index
      const parent = createOptions.parent
      // Lock markers are read by the script itself. On Cluster only the grant's own client's
      // shares the grant's slot; the others (task, approvers, the other clients of a delegation
      // chain) are read right after the script (see below).
      const guarded = createOptions.unlessLocked ?? []
      const sameSlot = (t: LockTarget): boolean => t.kind === 'client' && t.id === grant.clientId
      const inScript = cluster ? guarded.filter(sameSlot) : guarded
      const afterScript = cluster ? guarded.filter((t) => !sameSlot(t)) : []
      const lockKeys = inScript.map((t) => keys.lockMarker(t))
      const [[status, detail, indexed]] = await run(() =>
        Promise.all([
          scripts.writCreateGrant(
            (auditIntake ? (index ? 6 : 5) : 4) + lockKeys.length,
            keys.grant(grant.clientId, grant.id),
            keys.tombstone(grant.clientId, grant.id),
            keys.live(grant.clientId),
            keys.task(grant.clientId, grant.task.id),
            ...(auditIntake ? [auditIntake.streamKey] : []),
            ...(index ? [index.key] : []),
            ...lockKeys,
            auditIntake ? auditIntake.body : encodeGrantRecord(grant, isoNow(), detailsJson),
            grant.id,
            expiryMs,
            now,
            max === undefined ? '' : max,
            ...(index ? [index.ref] : []),
            lockKeys.length,
          ),
          redis.set(keys.grantPointer(grant.id), grant.clientId, 'PX', lifeMs, 'NX'),
          // Ensure revoke-all, revoke-by-task and the listing reach this client, in the policy or
          // not. One plain command on the hot path: GT keeps the client's latest expiry (a shorter
          // grant never lowers it); readers prune what has expired (see indexedClients).
          redis.zadd(keys.clients(), 'GT', expiryMs, grant.clientId),
          // Delegation: the child under its parent (in the parent's slot) and the parent among
          // the grants with children; the parent's liveness is checked once both are written.
          ...(parent
            ? [
                scripts.writIndexAdd(
                  keys.children(parent.clientId, parent.grantId),
                  expiryMs,
                  approverMember(grant.clientId, grant.id),
                  now,
                  lifeMs,
                ),
                redis.zadd(keys.delegating(), 'GT', expiryMs, approverMember(parent.clientId, parent.grantId)),
              ]
            : []),
          ...approverSubsOf(grant).map((sub) =>
            scripts.writIndexAdd(
              keys.approver(sub),
              expiryMs,
              approverMember(grant.clientId, grant.id),
              now,
              lifeMs,
            ),
          ),
        ]),
      )
      // Ensure a grant id is never reused, least of all to resurrect a revoked grant.
      if (status === -1) throw grantIdInUse()
      // Ensure the client stays within its quota; the script recorded nothing.
      if (status === 0) throw quotaExceeded(max ?? 0, Number(detail ?? now), now)
      // Ensure no grant is recorded for a locked target; the script recorded nothing.
      if (status === -2) throw lockRefusal((await locks.getLock(String(detail))) ?? { id: String(detail) })
      if (afterScript.length > 0) {
        // Cluster: read after the grant is recorded, so a lock set before this read refuses it
        // here, and one set after it finds the grant live when its revocation sweeps.
        const lock = await locks.findLock(afterScript)
        if (lock) {
          const reason = `not issued: lock ${lock.id}`
          await store.revokeGrant(grant.clientId, grant.id, { by: 'system', reason, at: grant.issuedAt })
          throw lockRefusal(lock)
        }
      }
      if (parent) {
        // The child is listed under its parent already: a revocation of the parent (or of a grant
        // above it) that came before these reads missed nothing but this child, which is taken
        // back here; one that comes after them finds the child in the parent's list.
        const chain = chainOf(createOptions)
        const states = await Promise.all(chain.map((ref) => readState(ref.clientId, ref.grantId)))
        const ended = chain.find((_, i) => states[i]!.state !== 'live')
        if (ended) {
          const reason = `not issued: grant ${ended.grantId} of its chain is not live`
          await store.revokeGrant(grant.clientId, grant.id, { by: 'system', reason, at: grant.issuedAt })
          throw chainEnded(ended, parent)
        }
      }
      await run(replicated)
      // The stream entry id is `0-<seq>` (the audit log takes events in with `XADD 0-*`).
      if (!auditIntake || typeof detail !== 'string') return {}
      const auditSeq = Number(detail.slice(2))
      return index ? { auditSeq, auditIndexed: indexed === 1 } : { auditSeq }
    },

    getGrant(clientId: string, grantId: string): Promise<GrantState> {
      return readState(clientId, grantId)
    },

    async findGrant(grantId: string): Promise<GrantState> {
      const clientId = await run(() => redis.get(keys.grantPointer(grantId)))
      if (clientId === null) return { state: 'unknown' }
      return readState(clientId, grantId)
    },

    async revokeGrant(
      clientId: string,
      grantId: string,
      revocation: RevocationInput,
    ): Promise<Grant | null> {
      const grantKey = keys.grant(clientId, grantId)
      // Two steps: the task index key depends on the grant's task, and a Cluster-safe script must
      // declare every key it touches. The script re-checks the record it was given is unchanged.
      for (let attempt = 0; attempt < MAX_REVOKE_ATTEMPTS; attempt++) {
        const grantJson = await run(() => redis.get(grantKey))
        if (!grantJson) return null
        const grant = parseGrantRecord(grantJson)
        const now = clock()
        // An expired grant is not live any more: nothing to revoke, no tombstone.
        if (!isAlive(grant.expiresAt, now)) return null
        const status = await run(() =>
          scripts.writRevokeGrant(
            grantKey,
            keys.tombstone(clientId, grantId),
            keys.live(clientId),
            keys.task(clientId, grant.task.id),
            grantJson,
            grantId,
            JSON.stringify(tombstoneFor(grant, revocation)),
            Math.ceil(grant.expiresAt * 1000 - now),
            channel,
            JSON.stringify(revokedMessage([grant])),
          ),
        )
        if (status === 1) {
          await run(replicated)
          return grant
        }
        if (status === 0) return null
      }
      throw storeUnavailable(new Error(`grant ${grantId} kept changing while being revoked`))
    },

    revokeByTask(taskId: string, revocation: RevocationInput) {
      return run(async () => {
        let total = 0
        for (const clientId of await indexedClients()) {
          total += await drain(clientId, keys.task(clientId, taskId), revocation)
        }
        await replicated()
        return total
      })
    },

    revokeByClient(clientId: string, revocation: RevocationInput) {
      return run(async () => {
        const total = await drain(clientId, keys.live(clientId), revocation)
        await replicated()
        return total
      })
    },

    revokeAll(revocation: RevocationInput) {
      return run(async () => {
        // Verifiers drop every cached grant at once; the batches below then make it true.
        await redis.publish(channel, JSON.stringify(ALL_REVOKED_MESSAGE))
        let total = 0
        const drained = new Set<string>()
        // Ensure every client with live grants is reached: first the ones the index names...
        for (const clientId of await indexedClients()) {
          drained.add(clientId)
          total += await drain(clientId, keys.live(clientId), revocation)
        }
        // ...then any live index the key space holds that the index does not name (grants
        // written by a broker from before the index, or whose index write failed).
        for (const clientId of await sweepClients()) {
          if (drained.has(clientId)) continue
          drained.add(clientId)
          total += await drain(clientId, keys.live(clientId), revocation)
        }
        await replicated()
        return total
      })
    },

    revokeByApprover(approverSub: string, revocation: RevocationInput) {
      const index = keys.approver(approverSub)
      return run(async () => {
        let total = 0
        for (;;) {
          const members = await firstLive(index)
          if (members.length === 0) {
            await replicated()
            return total
          }
          const byClient = new Map<string, string[]>()
          for (const member of members) {
            const parsed = parseApproverMember(member)
            if (!parsed) continue
            const ids = byClient.get(parsed.clientId) ?? []
            ids.push(parsed.grantId)
            byClient.set(parsed.clientId, ids)
          }
          for (const [clientId, ids] of byClient) {
            total += (await revokeListed(clientId, ids, keys.live(clientId), revocation)).revoked
          }
          // Every listed grant is revoked, gone or expired now: its index entry has done its job.
          await redis.zrem(index, ...members)
        }
      })
    },

    async listGrants(filter: ListGrantsFilter): Promise<Grant[]> {
      const { taskId } = filter
      const now = clock()
      const perClient = await run(async () =>
        Promise.all(
          (filter.clientId === undefined ? await indexedClients() : [filter.clientId]).map(
            async (clientId) => {
              const index =
                taskId === undefined ? keys.live(clientId) : keys.task(clientId, taskId)
              const ids = await scanLiveIds(index, now)
              const jsons: Array<string | null> = []
              for (let i = 0; i < ids.length; i += LIST_STEP) {
                const page = ids.slice(i, i + LIST_STEP).map((id) => keys.grant(clientId, id))
                jsons.push(...(await redis.mget(page)))
              }
              return jsons
            },
          ),
        ),
      )
      const grants: Grant[] = []
      for (const json of perClient.flat()) {
        if (!json) continue
        const grant = parseGrantRecord(json)
        if (isAlive(grant.expiresAt, now) && (taskId === undefined || grant.task.id === taskId)) {
          grants.push(grant)
        }
      }
      return grants.sort(compareGrants)
    },

    async listChildren(parent: GrantRef): Promise<GrantRef[]> {
      const now = clock()
      const members = await run(() => scanLiveIds(keys.children(parent.clientId, parent.grantId), now))
      return refsOf(members)
    },

    async listParents(): Promise<GrantRef[]> {
      const now = clock()
      const members = await run(async () => {
        await redis.zremrangebyscore(keys.delegating(), '-inf', now)
        return scanLiveIds(keys.delegating(), now)
      })
      return refsOf(members)
    },

    revokeMany(grants: readonly GrantRef[], revocation: RevocationInput) {
      const byClient = new Map<string, Set<string>>()
      for (const { clientId, grantId } of grants) {
        const ids = byClient.get(clientId) ?? new Set<string>()
        ids.add(grantId)
        byClient.set(clientId, ids)
      }
      return run(async () => {
        let total = 0
        for (const [clientId, set] of byClient) {
          const ids = [...set]
          for (let i = 0; i < ids.length; i += batchSize) {
            const page = ids.slice(i, i + batchSize)
            total += (await revokeListed(clientId, page, keys.live(clientId), revocation)).revoked
          }
        }
        await replicated()
        return total
      })
    },

    async countLiveGrants(clientId: string): Promise<number> {
      const now = clock()
      return run(() => redis.zcount(keys.live(clientId), `(${now}`, '+inf'))
    },
  }
  return store
}
