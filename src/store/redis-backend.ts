import { Redis } from 'ioredis'
import type { Clock } from '../clock.js'
import { storeUnavailable, WritError } from '../errors.js'
import { createStoreKeys, type StoreKeys } from '../wire/keys.js'
import {
  createRedisConnection,
  endConnection,
  type RedisClient,
  type RedisTopology,
} from './redis-connection.js'

interface CommonOptions {
  /** Prefix of every key (default `writ:`); must not contain `{` or `}`. */
  keyPrefix?: string
  /** Longest wait for any command before the store reports itself unavailable. Default 1000. */
  commandTimeoutMs?: number
  /** The broker's clock: decides liveness and computes every TTL. */
  clock: Clock
  /**
   * Connection errors of a client this store created, including subscription connections (for
   * logging); they also surface as 503s, or as `down` to subscribers.
   */
  onError?: (err: Error) => void
  /**
   * Replicas that must confirm every grant, revocation and key set write (Redis `WAIT`) before
   * it is acknowledged; when fewer do within half of `commandTimeoutMs`, the call fails with 503.
   * Default 0 (do not wait). Not supported on Redis Cluster (`WAIT` is per node).
   */
  minReplicasAcked?: number
}

/** Options of {@link createRedisBackend}: a `url` or `topology` to connect to, or a `redis` client. */
export type RedisBackendOptions = CommonOptions &
  (
    | {
        /** `redis://` or `rediss://` URL; the store creates, owns and closes the client. */
        url: string
        redis?: undefined
        topology?: undefined
      }
    | {
        /**
         * A client the caller owns; `close()` leaves it open. Configure it like
         * `failFastRedisOptions` so it fails fast instead of queueing commands. A `Cluster`
         * must not enable auto-pipelining (see `createRedisConnection`).
         */
        redis: RedisClient
        url?: undefined
      }
    | {
        /** Single, Sentinel or Cluster; the store creates, owns and closes the client. */
        topology: RedisTopology
        url?: undefined
        redis?: undefined
      }
  )

/**
 * The Redis connection under every port of a Redis store, with what each port's Redis code needs
 * to use it the same way: the key layout, fail-closed I/O and replication waits. What a domain's
 * Redis adapter (grants, key sets, locks, approvals, the audit log, AWS sessions) is given instead
 * of another store to borrow a client from.
 */
export interface RedisBackend {
  readonly kind: 'redis'
  /** The client (`Redis`, or `Cluster` on Redis Cluster). */
  readonly redis: RedisClient
  /** Whether `redis` is a Cluster (scripts then touch one hash tag only). */
  readonly cluster: boolean
  /** The key layout (see `wire/keys.ts`). */
  readonly keys: StoreKeys
  readonly clock: Clock
  readonly commandTimeoutMs: number
  /** Connection errors of connections the store made (subscriptions included). */
  readonly onError: (err: Error) => void
  /**
   * Runs Redis I/O, failing closed: after `close()`, or when anything goes wrong there, it throws
   * a WritError `temporarily_unavailable` (503); other WritErrors pass through. Before the
   * client's first connection it waits for it up to `commandTimeoutMs`.
   */
  run<T>(op: () => Promise<T>): Promise<T>
  /**
   * With `minReplicasAcked`, waits until that many replicas confirmed everything this connection
   * wrote, or throws (503); a no-op otherwise. Call it inside {@link run}.
   */
  replicated(): Promise<void>
  /**
   * Resolves once the client has connected for the first time (at once after that), or rejects
   * when it cannot within the command timeout. The client queues nothing, so a command sent before
   * the first connection would just fail.
   */
  firstConnection(): Promise<void>
  /** Whether `close()` was called. */
  readonly closed: boolean
  /** Registers work to finish on `close()` (ending subscriptions), before the client closes. */
  onClose(hook: () => Promise<void>): void
  /** Runs the close hooks, then closes the client when the backend created it. Safe to call twice. */
  close(): Promise<void>
}

/**
 * Connects (or adopts a client) for a Redis store: single Redis, Sentinel or Cluster (see
 * `createRedisConnection`).
 *
 * Failure: every connection error, command error and timeout in {@link RedisBackend.run} becomes
 * a WritError `temporarily_unavailable` (503) within `commandTimeoutMs`, so the broker fails
 * closed. Before the client's first connection, calls wait for it up to `commandTimeoutMs` (so a
 * broker that starts with its Redis does not fail its first request); afterwards a broken
 * connection fails calls at once while the client reconnects in the background.
 */
export function createRedisBackend(options: RedisBackendOptions): RedisBackend {
  const { clock } = options
  const commandTimeoutMs = options.commandTimeoutMs ?? 1000
  if (!Number.isSafeInteger(commandTimeoutMs) || commandTimeoutMs < 1) {
    throw new TypeError('commandTimeoutMs must be a positive integer')
  }
  const keys = createStoreKeys(options.keyPrefix)
  const onError = options.onError ?? (() => {})
  const owned = options.redis === undefined
  const redis =
    options.redis ??
    createRedisConnection(
      options.url !== undefined ? { url: options.url } : options.topology,
      commandTimeoutMs,
    )
  if (owned) {
    // Without a listener ioredis prints every connection error; they surface as 503s anyway.
    redis.on('error', onError)
  }
  const minReplicasAcked = options.minReplicasAcked ?? 0
  if (!Number.isSafeInteger(minReplicasAcked) || minReplicasAcked < 0) {
    throw new TypeError('minReplicasAcked must be a non-negative integer')
  }
  if (minReplicasAcked > 0 && !(redis instanceof Redis)) {
    throw new TypeError('minReplicasAcked is not supported on Redis Cluster')
  }
  const waitMs = Math.max(1, Math.floor(commandTimeoutMs / 2))

  let closed = false
  const closeHooks: Array<() => Promise<void>> = []
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

  return {
    kind: 'redis',
    redis,
    cluster: !(redis instanceof Redis),
    keys,
    clock,
    commandTimeoutMs,
    onError,
    get closed() {
      return closed
    },

    async run<T>(op: () => Promise<T>): Promise<T> {
      // Ensure a closed store fails closed, even when its client is shared and still open.
      if (closed) throw storeUnavailable(new Error('the Redis store is closed'))
      try {
        if (!everReady && redis.status !== 'ready') await awaitFirstConnection()
        return await op()
      } catch (err) {
        throw err instanceof WritError ? err : storeUnavailable(err)
      }
    },

    async replicated(): Promise<void> {
      // Ensure a write survives a failover before it is acknowledged.
      if (minReplicasAcked === 0) return
      const acked = Number(await redis.call('WAIT', minReplicasAcked, waitMs))
      if (acked < minReplicasAcked) {
        const why = `${acked} of ${minReplicasAcked} replicas confirmed the write`
        throw storeUnavailable(new Error(why))
      }
    },

    firstConnection: () =>
      everReady || redis.status === 'ready' ? Promise.resolve() : awaitFirstConnection(),

    onClose(hook) {
      closeHooks.push(hook)
    },

    async close(): Promise<void> {
      if (closed) return
      closed = true
      redis.off('ready', onReadyFlag)
      await Promise.all(closeHooks.map((hook) => hook()))
      if (!owned) return
      await endConnection(redis, commandTimeoutMs)
    },
  }
}
