import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'

/** A Redis endpoint: a Sentinel or a Cluster node. */
export interface RedisEndpoint {
  host: string
  port: number
}

/**
 * Where the store lives. Exactly one topology:
 * - `url`: a single Redis (`redis://` or `rediss://`; credentials may be part of the URL, or given
 *   as `username` / `password`);
 * - `sentinels` + `sentinelName`: the primary a set of Sentinels elects (the client asks them for
 *   the primary again after every disconnection, so it follows a failover);
 * - `clusterNodes`: a Redis Cluster, reached through any of the listed nodes (the client learns the
 *   rest of the cluster and the slot map from them).
 */
export interface RedisTopology {
  url?: string | undefined
  sentinels?: readonly RedisEndpoint[] | undefined
  sentinelName?: string | undefined
  clusterNodes?: readonly RedisEndpoint[] | undefined
  /** ACL user of the data nodes (for a URL: when the URL names none). */
  username?: string | undefined
  /** Password of the data nodes (for a URL: when the URL carries none). */
  password?: string | undefined
}

/** A client for any topology: ioredis `Redis` (single, Sentinel) or `Cluster`. */
export type RedisClient = Redis | Cluster

/** Upper bound on the delay between reconnection attempts; attempts never stop. */
const MAX_RECONNECT_DELAY_MS = 2000

/**
 * ioredis options that make a connection fail fast, so the broker fails closed instead of
 * hanging: no offline queue (a command on a broken connection rejects at once), no retries or
 * resends of a command whose outcome is unknown, a timeout on every command, and reconnection
 * forever with capped exponential backoff so the store recovers by itself.
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

/**
 * Creates a fail-fast ioredis client for a topology (see {@link RedisTopology}); the caller owns
 * it. Commands never wait in an offline queue, so an unreachable primary or a cluster that lost a
 * slot's master fails commands within `commandTimeoutMs` (the broker answers 503) and the client
 * keeps reconnecting until the topology recovers.
 *
 * @throws TypeError when the topology names none or several of `url`, `sentinels`, `clusterNodes`,
 *   or Sentinels without a `sentinelName`.
 *
 * @example
 * ```ts
 * const redis = createRedisConnection({ clusterNodes: [{ host: 'redis-0', port: 6379 }] }, 1000)
 * ```
 */
export function createRedisConnection(
  topology: RedisTopology,
  commandTimeoutMs: number,
): RedisClient {
  const { url, sentinels, clusterNodes } = topology
  const given = [url !== undefined, sentinels !== undefined, clusterNodes !== undefined]
  if (given.filter(Boolean).length !== 1) {
    throw new TypeError('name exactly one of url, sentinels and clusterNodes')
  }
  const auth = {
    ...(topology.username !== undefined ? { username: topology.username } : {}),
    ...(topology.password !== undefined ? { password: topology.password } : {}),
  }
  const base = failFastRedisOptions(commandTimeoutMs)
  // A URL's own credentials win; a URL without them uses `username` / `password` (from a secret).
  if (url !== undefined) return new Redis(url, { ...base, ...auth })
  if (sentinels !== undefined) {
    if (sentinels.length === 0) throw new TypeError('sentinels must name at least one Sentinel')
    if (!topology.sentinelName) throw new TypeError('sentinelName is required with sentinels')
    return new Redis({
      ...base,
      ...auth,
      sentinels: sentinels.map(({ host, port }) => ({ host, port })),
      name: topology.sentinelName,
      // Ask the Sentinels again quickly after a failover; the data connection backs off as usual.
      sentinelRetryStrategy: (attempt) => Math.min(100 * attempt, MAX_RECONNECT_DELAY_MS),
    })
  }
  if (clusterNodes!.length === 0) throw new TypeError('clusterNodes must name at least one node')
  const options: ClusterOptions = {
    // The cluster object queues nothing either: while no slot map is known, commands fail at once.
    enableOfflineQueue: false,
    enableReadyCheck: true,
    // ioredis' Cluster auto-pipelining groups a command by its first key, and takes the first
    // argument of a script it cannot parse for one: for a script whose key count varies (a bulk
    // revocation, an audit append) that is the count, so the pipeline would mix slots and fail.
    enableAutoPipelining: false,
    clusterRetryStrategy: (attempt) =>
      Math.min(50 * 2 ** Math.min(attempt, 16), MAX_RECONNECT_DELAY_MS),
    slotsRefreshTimeout: Math.max(commandTimeoutMs, 1000),
    redisOptions: { ...base, ...auth, enableAutoPipelining: false },
  }
  return new Cluster(
    clusterNodes!.map(({ host, port }) => ({ host, port })),
    options,
  )
}

/**
 * Closes a connection: QUIT when connected, then waits (bounded) for the socket to close so no
 * handle outlives the call; a connection that is not up just stops reconnecting.
 */
export async function endConnection(redis: RedisClient, waitMs: number): Promise<void> {
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
  let timer: NodeJS.Timeout | undefined
  await Promise.race([ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))])
  clearTimeout(timer)
  redis.off('end', onEnd)
}
