import { Redis, type RedisOptions } from 'ioredis'
import type { Clock } from '../clock.js'
import { storeUnavailable, WritError } from '../errors.js'
import type { Grant, GrantState, Revocation } from './grant.js'
import { createStoreKeys, type StoreKeys } from './keys.js'
import type { CreateGrantOptions, GrantStore, StoredKeySet } from './store.js'
import {
  assertCreatable,
  assertExpectedVersion,
  assertTtlSeconds,
  compareGrants,
  grantIdInUse,
  isAlive,
  quotaExceeded,
} from './store-rules.js'

/** Upper bound on the delay between reconnection attempts; attempts never stop. */
const MAX_RECONNECT_DELAY_MS = 2000

/** How often `revokeGrant` re-reads a grant that changed between its read and its script. */
const MAX_REVOKE_ATTEMPTS = 3

interface CommonOptions {
  /** Prefix of every key (default `writ:`); must not contain `{` or `}`. */
  keyPrefix?: string
  /** Longest wait for any command before the store reports itself unavailable. Default 1000. */
  commandTimeoutMs?: number
  /** The broker's clock: decides liveness and computes every TTL (see {@link createRedisStore}). */
  clock: Clock
  /** Connection errors of a client this store created (for logging); they also surface as 503s. */
  onError?: (err: Error) => void
}

/** Options of {@link createRedisStore}: a `url` to connect to, or a `redis` client to use. */
export type RedisStoreOptions = CommonOptions &
  (
    | {
        /** `redis://` or `rediss://` URL; the store creates, owns and closes the client. */
        url: string
        redis?: undefined
      }
    | {
        /**
         * A client the caller owns; `close()` leaves it open. Configure it like
         * {@link failFastRedisOptions} so it fails fast instead of queueing commands.
         */
        redis: Redis
        url?: undefined
      }
  )

/** The Redis grant store, with the raw client for work beyond the store (pub/sub). */
export interface RedisGrantStore extends GrantStore {
  readonly kind: 'redis'
  /** The underlying client; `duplicate()` it for subscriptions. */
  readonly redis: Redis
  /** The key layout this store uses. */
  readonly keys: StoreKeys
}

/**
 * ioredis options that make a store fail fast, so the broker fails closed instead of hanging:
 * no offline queue (a command on a broken connection rejects at once), no retries or resends of
 * a command whose outcome is unknown, a timeout on every command, and reconnection forever with
 * capped exponential backoff so the store recovers by itself.
 */
export function failFastRedisOptions(commandTimeoutMs: number): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: commandTimeoutMs,
    connectTimeout: Math.max(commandTimeoutMs, 2000),
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 16), MAX_RECONNECT_DELAY_MS),
    // After a failover the old primary answers READONLY: reconnect to reach the new one.
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 1 : false),
    enableAutoPipelining: true,
    enableReadyCheck: true,
  }
}

/*
 * Lua scripts, each one atomic on the server. All keys a script touches are declared in KEYS and
 * share the `{c:<clientId>}` hash tag, so they also run on Redis Cluster. Times are passed in by
 * the caller (its clock), never read from Redis TIME. Numbers are formatted with '%.0f' so large
 * millisecond values never reach Redis in exponent notation.
 */

/**
 * KEYS: grant, tombstone, client live index, task index.
 * ARGV: grant JSON, grant id, expiry (ms), now (ms), quota ('' for none).
 * Returns {1} created, {0, earliest expiry ms} quota reached, {-1} id already in use.
 */
const CREATE_GRANT_LUA = `
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
redis.call('SET', KEYS[1], ARGV[1], 'PX', life)
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
-- An index lives as long as its longest-lived member: extend, never shorten (PTTL -1 = no TTL yet).
for i = 3, 4 do
  if redis.call('PTTL', KEYS[i]) < life then
    redis.call('PEXPIRE', KEYS[i], life)
  end
end
return {1}
`

/**
 * KEYS: grant, tombstone, client live index, task index.
 * ARGV: grant JSON as the caller read it, grant id, tombstone JSON, tombstone life (ms).
 * Returns 1 revoked, 0 not there any more, -1 the record changed since the caller read it.
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
return 1
`

/**
 * KEYS: key set hash. ARGV: expected version ('' for none), data.
 * Returns the new version, or 0 when the current version is not the expected one.
 */
const PUT_KEY_SET_LUA = `
local current = redis.call('HGET', KEYS[1], 'version')
if current then
  if current ~= ARGV[1] then
    return 0
  end
elseif ARGV[1] ~= '' then
  return 0
end
local version = (current and tonumber(current) or 0) + 1
redis.call('HSET', KEYS[1], 'version', string.format('%.0f', version), 'data', ARGV[2])
return version
`

type ScriptArg = string | number

interface WritScripts {
  writCreateGrant(...args: ScriptArg[]): Promise<[number, string?]>
  writRevokeGrant(...args: ScriptArg[]): Promise<number>
  writPutKeySet(...args: ScriptArg[]): Promise<number>
}

/**
 * The Redis grant store (single node, Sentinel, or a Cluster-compatible layout).
 *
 * Failure: every connection error, command error and timeout becomes a WritError
 * `temporarily_unavailable` (503) within `commandTimeoutMs`, so the broker fails closed; the other
 * WritErrors are the contract's `quota_exceeded` and id-collision `server_error`. Before the
 * client's first connection, calls wait for it up
 * to `commandTimeoutMs` (so a broker that starts with its Redis does not fail its first request);
 * afterwards a broken connection fails calls at once while the client reconnects in the background.
 *
 * Expiry and clocks: liveness is decided by the broker's `clock`, the clock that computed the
 * grant's `expiresAt` — a record is live while it exists in Redis and `expiresAt * 1000 > clock()`.
 * TTLs are relative (`PX = expiresAt * 1000 - clock()`), never absolute (`PEXPIREAT`), so Redis
 * keeps a record for exactly its remaining life whatever Redis's own wall clock says: an absolute
 * expiry would let a record outlive its token when Redis's clock runs behind, or drop it at once
 * when it runs ahead. Index scores are expiries in the broker's clock, pruned with the caller's
 * time. Skew between broker replicas shifts liveness by the skew at most, and never beyond the
 * Redis TTL set at creation; keep replicas on NTP. Single-use markers use Redis's `EX` timer.
 *
 * Redis must not evict keys (`maxmemory-policy noeviction`): an evicted grant reads as unknown
 * (fails safe) but would still count against its client's quota until it expires.
 *
 * @example
 * ```ts
 * const store = createRedisStore({ url: 'redis://127.0.0.1:6379', clock: systemClock })
 * await store.ping()
 * ```
 */
export function createRedisStore(options: RedisStoreOptions): RedisGrantStore {
  const { clock } = options
  const commandTimeoutMs = options.commandTimeoutMs ?? 1000
  if (!Number.isSafeInteger(commandTimeoutMs) || commandTimeoutMs < 1) {
    throw new TypeError('commandTimeoutMs must be a positive integer')
  }
  const keys = createStoreKeys(options.keyPrefix)
  const owned = options.redis === undefined
  const redis = options.redis ?? new Redis(options.url, failFastRedisOptions(commandTimeoutMs))
  if (owned) {
    // Without a listener ioredis prints every connection error; they surface as 503s anyway.
    const onError = options.onError ?? (() => {})
    redis.on('error', onError)
  }
  redis.defineCommand('writCreateGrant', { numberOfKeys: 4, lua: CREATE_GRANT_LUA })
  redis.defineCommand('writRevokeGrant', { numberOfKeys: 4, lua: REVOKE_GRANT_LUA })
  redis.defineCommand('writPutKeySet', { numberOfKeys: 1, lua: PUT_KEY_SET_LUA })
  const scripts = redis as unknown as WritScripts

  let closed = false
  let everReady = redis.status === 'ready'
  const onReadyFlag = (): void => {
    everReady = true
  }
  redis.on('ready', onReadyFlag)
  let firstConnection: Promise<void> | undefined

  /** Waits (bounded) for the client's first connection; shared by concurrent callers. */
  const awaitFirstConnection = (): Promise<void> => {
    firstConnection ??= new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer)
        redis.off('ready', onReady)
        redis.off('end', onEnd)
        firstConnection = undefined
        if (err) reject(err)
        else resolve()
      }
      const onReady = (): void => done()
      const onEnd = (): void => done(new Error('the Redis connection was closed'))
      const timer = setTimeout(
        () => done(new Error(`no connection to Redis within ${commandTimeoutMs} ms`)),
        commandTimeoutMs,
      )
      redis.once('ready', onReady)
      redis.once('end', onEnd)
      if (redis.status === 'wait') redis.connect().catch(() => {})
    })
    return firstConnection
  }

  /** Runs Redis I/O; anything that goes wrong there means the store is unavailable. */
  const run = async <T>(op: () => Promise<T>): Promise<T> => {
    // Ensure a closed store fails closed, even when its client is shared and still open.
    if (closed) throw storeUnavailable(new Error('the Redis store is closed'))
    try {
      if (!everReady && redis.status !== 'ready') await awaitFirstConnection()
      return await op()
    } catch (err) {
      throw err instanceof WritError ? err : storeUnavailable(err)
    }
  }

  const parse = <T>(json: string): T => JSON.parse(json) as T

  return {
    kind: 'redis',
    redis,
    keys,

    async createGrant(grant: Grant, createOptions: CreateGrantOptions = {}): Promise<void> {
      const now = clock()
      assertCreatable(grant, createOptions, now)
      const max = createOptions.maxLiveGrants
      const [status, earliest] = await run(() =>
        scripts.writCreateGrant(
          keys.grant(grant.clientId, grant.id),
          keys.tombstone(grant.clientId, grant.id),
          keys.live(grant.clientId),
          keys.task(grant.clientId, grant.task.id),
          JSON.stringify(grant),
          grant.id,
          grant.expiresAt * 1000,
          now,
          max === undefined ? '' : max,
        ),
      )
      // Ensure a grant id is never reused, least of all to resurrect a revoked grant.
      if (status === -1) throw grantIdInUse()
      // Ensure the client stays within its quota; the script recorded nothing.
      if (status === 0) throw quotaExceeded(max ?? 0, Number(earliest ?? now), now)
    },

    async getGrant(clientId: string, grantId: string): Promise<GrantState> {
      const [grantJson, tombstoneJson] = await run(() =>
        redis.mget(keys.grant(clientId, grantId), keys.tombstone(clientId, grantId)),
      )
      const now = clock()
      if (grantJson) {
        const grant = parse<Grant>(grantJson)
        if (isAlive(grant.expiresAt, now)) return { state: 'live', grant }
      }
      if (tombstoneJson) {
        const revocation = parse<Revocation>(tombstoneJson)
        if (isAlive(revocation.expiresAt, now)) return { state: 'revoked', revocation }
      }
      return { state: 'unknown' }
    },

    async revokeGrant(
      clientId: string,
      grantId: string,
      revocation: Pick<Revocation, 'by' | 'reason' | 'at'>,
    ): Promise<Grant | null> {
      const grantKey = keys.grant(clientId, grantId)
      // Two steps: the task index key depends on the grant's task, and a Cluster-safe script must
      // declare every key it touches. The script re-checks the record it was given is unchanged.
      for (let attempt = 0; attempt < MAX_REVOKE_ATTEMPTS; attempt++) {
        const grantJson = await run(() => redis.get(grantKey))
        if (!grantJson) return null
        const grant = parse<Grant>(grantJson)
        const now = clock()
        // An expired grant is not live any more: nothing to revoke, no tombstone.
        if (!isAlive(grant.expiresAt, now)) return null
        const tombstone: Revocation = {
          grantId,
          clientId,
          by: revocation.by,
          reason: revocation.reason,
          at: revocation.at,
          expiresAt: grant.expiresAt,
        }
        const status = await run(() =>
          scripts.writRevokeGrant(
            grantKey,
            keys.tombstone(clientId, grantId),
            keys.live(clientId),
            keys.task(clientId, grant.task.id),
            grantJson,
            grantId,
            JSON.stringify(tombstone),
            Math.ceil(grant.expiresAt * 1000 - now),
          ),
        )
        if (status === 1) return grant
        if (status === 0) return null
      }
      throw storeUnavailable(new Error(`grant ${grantId} kept changing while being revoked`))
    },

    async listGrants(filter: { clientId: string; taskId?: string }): Promise<Grant[]> {
      const { clientId, taskId } = filter
      const index = taskId === undefined ? keys.live(clientId) : keys.task(clientId, taskId)
      const now = clock()
      const jsons = await run(async () => {
        const ids = await redis.zrange(index, `(${now}`, '+inf', 'BYSCORE')
        if (ids.length === 0) return []
        return redis.mget(ids.map((id) => keys.grant(clientId, id)))
      })
      const grants: Grant[] = []
      for (const json of jsons) {
        if (!json) continue
        const grant = parse<Grant>(json)
        if (isAlive(grant.expiresAt, now)) grants.push(grant)
      }
      return grants.sort(compareGrants)
    },

    async countLiveGrants(clientId: string): Promise<number> {
      const now = clock()
      return run(() => redis.zcount(keys.live(clientId), `(${now}`, '+inf'))
    },

    async consumeOnce(scope: string, id: string, ttlSeconds: number): Promise<boolean> {
      assertTtlSeconds(ttlSeconds)
      // Ensure a marker is taken once across replicas: SET NX succeeds for exactly one caller.
      const reply = await run(() => redis.set(keys.once(scope, id), '1', 'EX', ttlSeconds, 'NX'))
      return reply === 'OK'
    },

    async getKeySet(): Promise<StoredKeySet | null> {
      const [version, data] = await run(() => redis.hmget(keys.keySet(), 'version', 'data'))
      if (version == null || data == null) return null
      return { version: Number(version), data }
    },

    async putKeySet(data: string, expectedVersion: number | null): Promise<boolean> {
      assertExpectedVersion(expectedVersion)
      // Ensure the writer saw the current version (compare-and-set), so no rotation is lost.
      const version = await run(() =>
        scripts.writPutKeySet(keys.keySet(), expectedVersion === null ? '' : expectedVersion, data),
      )
      return version > 0
    },

    async ping(): Promise<void> {
      await run(async () => {
        if (redis.status !== 'ready') throw new Error(`the Redis connection is ${redis.status}`)
        await redis.ping()
      })
    },

    async close(): Promise<void> {
      if (closed) return
      closed = true
      redis.off('ready', onReadyFlag)
      if (!owned) return
      if (redis.status === 'end') return
      let onEnd = (): void => {}
      const ended = new Promise<void>((resolve) => {
        onEnd = resolve
        redis.once('end', onEnd)
      })
      try {
        await redis.quit()
      } catch {
        // Not connected (reconnecting or never connected): stop the reconnection loop instead.
        redis.off('end', onEnd)
        redis.disconnect()
        return
      }
      // QUIT was answered; wait (bounded) for the socket to close so no handle outlives close().
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        ended,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, commandTimeoutMs))),
      ])
      clearTimeout(timer)
      redis.off('end', onEnd)
    },
  }
}
