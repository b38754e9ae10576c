import { Redis, type Cluster, type RedisOptions } from 'ioredis'
import { createStoreKeys, DEFAULT_KEY_PREFIX } from '../wire/keys.js'
import { parseRevocationMessage, REVOCATION_CHANNEL_SUFFIX } from '../wire/revocation-message.js'
import { ExpiringLru } from './expiring-lru.js'
import type { LivenessCheck, LivenessStatus } from './liveness.js'
import type { AccessTokenClaims } from './types.js'
import { VerifierError } from './verifier-error.js'

/**
 * Ask the grant store directly. The verifier subscribes to the broker's revocation channel and
 * keeps a bounded cache of grants it confirmed live; revocation messages drop entries at once.
 * While the subscription is down the cache is dropped and every request looks its grant up.
 * When the store cannot be reached, requests are refused with `liveness_unavailable`.
 *
 * @example
 * ```ts
 * const liveness: RedisLivenessOptions = { mode: 'redis', redis: 'redis://writ-redis:6379' }
 * ```
 */
export interface RedisLivenessOptions {
  mode: 'redis'
  /**
   * A `redis://` / `rediss://` URL (the verifier owns its connections), or an ioredis client the
   * caller owns (used for lookups, and duplicated for the subscription): `Redis` for a single
   * Redis or Sentinel, `Cluster` for Redis Cluster (then `subscriber` is required).
   *
   * Log in as the least-privileged `writ-verifier` ACL user shipped in `deploy/redis/users.acl`
   * (`redis://writ-verifier:PASSWORD@host:6379`), never with the broker's credentials: it may only
   * read grant records (`GET`, `EXISTS`) and subscribe to `<prefix>revocations`, which is all this
   * check does.
   */
  redis: string | Redis | Cluster
  /**
   * Where to subscribe to revocation messages, when that is not `redis`: a URL (owned by the
   * verifier) or a client (duplicated). Required with a `Cluster`: give one node of the cluster;
   * PUBLISH on a Redis Cluster reaches every node. While that node is down the verifier looks up
   * every grant in the cluster (no cache), as with any lost subscription.
   */
  subscriber?: string | Redis
  /** The broker's key prefix (`WRIT_KEY_PREFIX`). Default `writ:`. */
  keyPrefix?: string
  /** Most grants kept as confirmed live. Default 10000. */
  cacheSize?: number
  /** Longest a confirmation is trusted, even with the subscription up. Default 60. */
  cacheTtlSeconds?: number
  /** Longest wait for a lookup, and for the subscription's heartbeat. Default 1000. */
  commandTimeoutMs?: number
  /** How often the subscription connection is checked with PING. Default 1000. */
  heartbeatMs?: number
  /** Connection errors, for logging; lookups that fail surface as `liveness_unavailable`. */
  onError?: (err: Error) => void
}

const MAX_RECONNECT_DELAY_MS = 2000

/** What the revocation channel tells the rest of the verifier besides revocations. */
export interface KeySetEvents {
  /** A key-set announcement: the issuer publishes exactly these kids from now on. */
  onKeySet(kids: readonly string[]): void
  /** The subscription came back after a loss: an announcement may have been missed. */
  onResubscribed(): void
  /** Told whether each check was answered from the cache of grants confirmed live. */
  onCacheLookup?(hit: boolean): void
}

/** Fail fast: no offline queue, no retries, reconnection forever with capped backoff. */
function connectionOptions(commandTimeoutMs: number): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: Math.max(commandTimeoutMs, 2000),
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 16), MAX_RECONNECT_DELAY_MS),
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 1 : false),
  }
}

/** Rejects when `promise` has not settled within `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

const positiveInteger = (name: string, value: number): number => {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`liveness.${name} must be a positive integer`)
  }
  return value
}

/** A token whose claims are not the ones recorded for its grant. */
const notIssued = (): VerifierError =>
  new VerifierError('invalid_token', 'the token\'s claims are not the ones issued for its grant')

const unavailable = (message: string, cause?: unknown): VerifierError =>
  new VerifierError('liveness_unavailable', message, cause === undefined ? {} : { cause })

/**
 * The claims digest a grant record holds: its `claims_sha256` member (the record is the grant's
 * `grant.issued` event, or a plain grant in records of older brokers, which hold none).
 *
 * @throws Error when the record is not a JSON object, or its digest not a string: a record this
 *   verifier cannot read is never taken as live.
 */
function recordedDigest(record: string): string | undefined {
  const parsed = JSON.parse(record) as unknown
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error('the grant record is not a JSON object')
  }
  const digest = (parsed as { claims_sha256?: unknown }).claims_sha256
  if (digest !== undefined && typeof digest !== 'string') {
    throw new Error('the grant record\'s claims_sha256 is not a string')
  }
  return digest
}

/**
 * The `redis` liveness check (see {@link RedisLivenessOptions}). A grant is live while its record
 * exists under the broker's key layout (`createStoreKeys(prefix).grant(client, grant)`), and a
 * token passes only when it is the token issued for the grant: its claims digest
 * (`tokenClaimsSha256`) is the record's `claims_sha256`. A record without one (written by a
 * broker before digests were recorded) is judged by its existence alone. A delegated token is
 * live only while every grant above it (`ancestor_grants`) has its record too: the broker revokes
 * the top of a subtree first, and that alone ends the whole subtree here.
 *
 * The cache keeps each confirmed grant's recorded digest (a grant's record never changes), so a
 * cached grant costs one string comparison, and a token with other claims is refused from the
 * cache too. Cached delegated grants are indexed by each grant above them, so a message naming
 * any ancestor drops the cached subtree at once.
 *
 * Correctness of the cache: an entry is only added while the subscription is up, and only when no
 * message, loss or resubscription happened between the start of its lookup and its answer (an
 * `epoch` counter), so a revocation that raced the lookup can never leave a stale entry. Losing
 * the subscription (connection closed, or a heartbeat unanswered) drops the whole cache; messages
 * published while it was down cannot be missed by an entry that no longer exists.
 */
export function createRedisLiveness(
  options: RedisLivenessOptions,
  clock: () => number,
  keySetEvents?: KeySetEvents,
): LivenessCheck {
  const cacheTtlMs = positiveInteger('cacheTtlSeconds', options.cacheTtlSeconds ?? 60) * 1000
  const timeoutMs = positiveInteger('commandTimeoutMs', options.commandTimeoutMs ?? 1000)
  const heartbeatMs = positiveInteger('heartbeatMs', options.heartbeatMs ?? 1000)
  /**
   * Delegated grants in the cache, by each grant above them (cache keys): a revocation message
   * naming an ancestor drops its whole cached subtree. Entries leave with the cache's.
   */
  const below = new Map<string, Set<string>>()
  /** Confirmed live grants: the digest their record holds (null when none), and their chain. */
  const cache = new ExpiringLru<Confirmed>(options.cacheSize ?? 10_000, (key, confirmed) => {
    for (const ancestor of confirmed.ancestors) {
      const subtree = below.get(ancestor)
      subtree?.delete(key)
      if (subtree?.size === 0) below.delete(ancestor)
    }
  })
  /** Drops a grant, and every cached grant delegated from it at any depth. */
  const drop = (key: string): void => {
    cache.delete(key)
    const subtree = below.get(key)
    if (subtree === undefined) return
    below.delete(key)
    for (const descendant of subtree) cache.delete(descendant)
  }
  const dropAll = (): void => {
    cache.clear()
    below.clear()
  }
  const keys = createStoreKeys(options.keyPrefix ?? DEFAULT_KEY_PREFIX)
  const channel = `${keys.prefix}${REVOCATION_CHANNEL_SUFFIX}`
  const onError = options.onError ?? (() => {})

  const owned = typeof options.redis === 'string'
  const base = connectionOptions(timeoutMs)
  const commands =
    typeof options.redis === 'string'
      ? new Redis(options.redis, { ...base, enableAutoPipelining: true })
      : options.redis
  const from = options.subscriber ?? options.redis
  if (typeof from !== 'string' && !(from instanceof Redis)) {
    throw new TypeError('liveness.subscriber is required with a Redis Cluster client')
  }
  const subscriber =
    typeof from === 'string'
      ? new Redis(from, { ...base, autoResubscribe: false })
      : from.duplicate({ ...base, autoResubscribe: false, lazyConnect: false })
  if (owned) commands.on('error', onError)
  subscriber.on('error', onError)

  let closed = false
  let subscribed = false
  /** The subscription was up once: a later one is a resubscription after a loss. */
  let everSubscribed = false
  /** Bumped by every message, loss and resubscription: a lookup spanning one is not cached. */
  let epoch = 0
  let everReady = commands.status === 'ready'
  /** Lookups in flight, by cache key. */
  const pending = new Map<string, { epoch: number; live: Promise<Looked> }>()

  const markReady = (): void => {
    everReady = true
  }
  commands.on('ready', markReady)

  const lose = (): void => {
    subscribed = false
    epoch++
    dropAll()
  }

  const onMessage = (from: string, text: string): void => {
    if (from !== channel) return
    epoch++
    const message = parseRevocationMessage(text)
    // Ensure anything not understood, and every `all`, drops every confirmation (fail safe).
    if (message === null || 'all' in message) {
      dropAll()
      return
    }
    // Ensure a key the issuer withdrew stops verifying as soon as the change is announced.
    if ('keys' in message) {
      keySetEvents?.onKeySet(message.keys.kids)
      return
    }
    // Ensure a revoked grant's descendants stop verifying with it: they are live only while it is.
    for (const grant of message.grants) drop(cacheKey(grant.clientId, grant.id))
  }

  const subscribe = async (): Promise<void> => {
    if (closed) return
    try {
      await withTimeout(subscriber.subscribe(channel), timeoutMs, 'SUBSCRIBE')
      if (closed) return
      epoch++
      dropAll()
      subscribed = true
      // Ensure a key-set change announced while the subscription was down is not missed.
      if (everSubscribed) keySetEvents?.onResubscribed()
      everSubscribed = true
    } catch (err) {
      onError(err instanceof Error ? err : new Error(String(err)))
      if (!closed) subscriber.disconnect(true)
    }
  }

  subscriber.on('message', onMessage)
  subscriber.on('close', lose)
  subscriber.on('ready', () => void subscribe())
  if (subscriber.status === 'ready') void subscribe()

  let pinging = false
  const heartbeat = setInterval(() => {
    if (!subscribed || pinging) return
    pinging = true
    withTimeout(subscriber.ping(), timeoutMs, 'PING')
      .catch((err: unknown) => {
        // Ensure a silent connection is treated as lost: messages may be going nowhere.
        if (closed) return
        onError(err instanceof Error ? err : new Error(String(err)))
        lose()
        subscriber.disconnect(true)
      })
      .finally(() => {
        pinging = false
      })
  }, heartbeatMs)
  heartbeat.unref()

  /** Waits (bounded) for the lookup connection's first connection; later outages fail at once. */
  let firstConnection: Promise<void> | undefined
  const connected = (): Promise<void> | undefined => {
    if (everReady || commands.status === 'ready') return undefined
    firstConnection ??= new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer)
        commands.off('ready', onReady)
        firstConnection = undefined
        if (err) reject(err)
        else resolve()
      }
      const onReady = (): void => done()
      const timer = setTimeout(
        () => done(new Error(`no connection to Redis within ${timeoutMs} ms`)),
        timeoutMs,
      )
      commands.once('ready', onReady)
      if (commands.status === 'wait') commands.connect().catch(() => undefined)
    })
    return firstConnection
  }

  /** The records of a grant and of every grant above it (read together, one round trip). */
  const lookup = (key: string, claims: AccessTokenClaims): Promise<Looked> => {
    const current = pending.get(key)
    // Join a lookup in flight only if nothing happened since it started.
    if (current && current.epoch === epoch) return current.live
    const live = (async (): Promise<Looked> => {
      const waiting = connected()
      if (waiting) await waiting
      const ancestors = claims.ancestor_grants ?? []
      const [record, ...above] = await withTimeout(
        Promise.all([
          commands.get(keys.grant(claims.client_id, claims.jti)),
          ...ancestors.map((a) => commands.exists(keys.grant(a.client_id, a.grant_id))),
        ]),
        timeoutMs,
        'GET',
      )
      const ended = ancestors.find((_, i) => above[i] === 0)
      return { record: record as string | null, ...(ended ? { endedAncestor: ended.grant_id } : {}) }
    })()
    const entry = { epoch, live }
    pending.set(key, entry)
    const forget = (): void => {
      if (pending.get(key) === entry) pending.delete(key)
    }
    live.then(forget, forget)
    return live
  }

  return {
    async check(claims, _token, claimsSha256) {
      // Ensure a closed verifier never accepts.
      if (closed) throw unavailable('the verifier is closed')
      const key = cacheKey(claims.client_id, claims.jti)
      const now = clock()
      const cached = subscribed ? cache.get(key, now) : undefined
      keySetEvents?.onCacheLookup?.(cached !== undefined)
      if (cached !== undefined) {
        if (cached.digest === null || cached.digest === claimsSha256) return
        // Ensure a token other than the one issued for a grant is refused, even from the cache.
        throw notIssued()
      }
      const startEpoch = epoch
      let looked: Looked
      try {
        looked = await lookup(key, claims)
      } catch (cause) {
        // Ensure an unreachable store fails closed.
        const message = 'the grant store cannot be reached to check the token; retry shortly'
        throw unavailable(message, cause)
      }
      const { record, endedAncestor } = looked
      // Ensure a grant that is not in the live set is refused: the store is the allow-list.
      if (record === null) throw new VerifierError('token_revoked', 'the token has been revoked')
      // Ensure a delegated token ends with any grant above it, before the cascade reaches its record.
      if (endedAncestor !== undefined) {
        throw new VerifierError('token_revoked', `the token has been revoked: grant ${endedAncestor}, which it was delegated from, is not live`)
      }
      let digest: string | null
      try {
        digest = recordedDigest(record) ?? null
      } catch (cause) {
        // Ensure a record this verifier cannot read is never taken as live.
        const message = 'the grant record is in a form this verifier cannot read; update writ/verifier'
        throw unavailable(message, cause)
      }
      // Ensure the token is the one issued for the grant: a token signed with a stolen key that
      // reuses a live grant's id (wider details, another audience, a later expiry) differs.
      if (digest !== null && digest !== claimsSha256) throw notIssued()
      if (subscribed && epoch === startEpoch && !closed) {
        const ancestors = (claims.ancestor_grants ?? []).map((a) => cacheKey(a.client_id, a.grant_id))
        cache.set(key, { digest, ancestors }, Math.min(claims.exp * 1000, clock() + cacheTtlMs))
        for (const ancestor of cache.maxEntries > 0 ? ancestors : []) {
          let subtree = below.get(ancestor)
          if (subtree === undefined) below.set(ancestor, (subtree = new Set()))
          subtree.add(key)
        }
      }
    },

    status(): LivenessStatus {
      return { mode: 'redis', subscribed, cachedGrants: cache.size }
    },

    async close() {
      if (closed) return
      closed = true
      clearInterval(heartbeat)
      lose()
      commands.off('ready', markReady)
      subscriber.removeAllListeners('message')
      subscriber.disconnect()
      if (!owned) return
      try {
        await commands.quit()
      } catch {
        commands.disconnect()
      }
    },
  }
}

/** A grant the verifier confirmed live: its record's claims digest, and the grants above it. */
interface Confirmed {
  /** The record's `claims_sha256`, or null when it holds none. */
  digest: string | null
  /** Cache keys of every grant above it (its token's `ancestor_grants`); empty when not delegated. */
  ancestors: readonly string[]
}

/** What one lookup read: the grant's record (null when there is none), and the first ancestor gone. */
interface Looked {
  record: string | null
  endedAncestor?: string
}

/** Grant ids are unique, but the client is part of the key so two clients can never collide. */
const cacheKey = (clientId: string, grantId: string): string => `${clientId}\u0000${grantId}`
