import { createMemoryGrantStore, type MemoryGrantStoreOptions } from './grants/memory-store.js'
import { createRedisGrantStore, type RedisGrantStoreOptions } from './grants/redis-store.js'
import type { GrantStore } from './grants/store.js'
import type { LockStore } from './locks/store.js'
import { createMemoryBackend, type MemoryBackend } from './store/memory-backend.js'
import { createMemoryOnceStore } from './store/memory-once-store.js'
import { createMemorySettingsStore } from './store/memory-settings-store.js'
import type { OnceStore } from './store/once-store.js'
import { createRedisBackend, type RedisBackend, type RedisBackendOptions } from './store/redis-backend.js'
import { createRedisOnceStore } from './store/redis-once-store.js'
import { createRedisRevocationFeed } from './store/redis-revocation-feed.js'
import { createRedisSettingsStore } from './store/redis-settings-store.js'
import type { RevocationFeed } from './store/revocation-feed.js'
import type { SettingsStore } from './store/settings-store.js'
import type { Clock } from './clock.js'
import type { KeySetStore } from './tokens/key-set-store.js'
import { createMemoryKeySetStore } from './tokens/memory-key-set-store.js'
import { createRedisKeySetStore } from './tokens/redis-key-set-store.js'

/**
 * The broker's shared state, one narrow port per consumer on one backend: each module is handed
 * the port it uses (`grants` to issuance and revocation, `keySets` to the key manager, `once` to
 * DPoP and client assertions, `settings` to the admin bootstrap, `revocations` to what follows
 * revocations), never the whole store. Every port fails closed (503) when the backend is
 * unreachable or after `close()`.
 */
export interface Store<B extends MemoryBackend | RedisBackend = MemoryBackend | RedisBackend> {
  readonly kind: B['kind']
  /** What the store lives on: what approvals, the audit log and AWS sessions build on. */
  readonly backend: B
  readonly grants: GrantStore
  /** Locks, beside the grants whose creation reads them (`grants.locks`). */
  readonly locks: LockStore
  readonly keySets: KeySetStore
  readonly once: OnceStore
  readonly settings: SettingsStore
  readonly revocations: RevocationFeed
  /** Throws when the store cannot serve requests. */
  ping(): Promise<void>
  /** Ends every subscription and releases what the store owns; afterwards every port fails closed. */
  close(): Promise<void>
}

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions extends MemoryGrantStoreOptions {
  /** Decides every expiry: grants, tombstones and single-use markers. */
  clock: Clock
}

/**
 * The embedded, single-process store: the zero-config default for one broker instance. Nothing
 * survives a restart and nothing is shared between processes.
 *
 * @example
 * ```ts
 * const store = createMemoryStore({ clock: systemClock })
 * ```
 */
export function createMemoryStore(options: MemoryStoreOptions): Store<MemoryBackend> {
  const backend = createMemoryBackend({ clock: options.clock })
  const grants = createMemoryGrantStore(backend, options)
  return {
    kind: 'memory',
    backend,
    grants,
    locks: grants.locks,
    keySets: createMemoryKeySetStore(backend),
    once: createMemoryOnceStore(
      backend,
      options.sweepThreshold === undefined ? {} : { sweepThreshold: options.sweepThreshold },
    ),
    settings: createMemorySettingsStore(backend),
    revocations: backend,
    async ping() {
      backend.ensureOpen()
    },
    close: () => backend.close(),
  }
}

/** Options of {@link createRedisStore}: the connection (see `RedisBackendOptions`) and the grants'. */
export type RedisStoreOptions = RedisBackendOptions & RedisGrantStoreOptions

/**
 * The Redis store, shared by every broker replica: single Redis, Sentinel or Cluster. Every port
 * shares one connection (the revocation feed opens one per subscription).
 *
 * @example
 * ```ts
 * const store = createRedisStore({ url: 'redis://127.0.0.1:6379', clock: systemClock })
 * await store.ping()
 * ```
 */
export function createRedisStore(options: RedisStoreOptions): Store<RedisBackend> {
  const backend = createRedisBackend(options)
  const grants = createRedisGrantStore(
    backend,
    options.revocationBatchSize === undefined
      ? {}
      : { revocationBatchSize: options.revocationBatchSize },
  )
  const { redis } = backend
  return {
    kind: 'redis',
    backend,
    grants,
    locks: grants.locks,
    keySets: createRedisKeySetStore(backend),
    once: createRedisOnceStore(backend),
    settings: createRedisSettingsStore(backend),
    revocations: createRedisRevocationFeed(backend),
    async ping() {
      await backend.run(async () => {
        if (redis.status !== 'ready') throw new Error(`the Redis connection is ${redis.status}`)
        await redis.ping()
      })
    },
    close: () => backend.close(),
  }
}
