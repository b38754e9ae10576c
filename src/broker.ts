import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createClientAuthenticator } from './clients/index.js'
import { type Clock, systemClock } from './clock.js'
import type { Config } from './config.js'
import { createMemoryStore } from './grants/memory-store.js'
import { createRedisStore } from './grants/redis-store.js'
import type { GrantStore } from './grants/store.js'
import type { Logger } from './logger.js'
import { loadPolicyFile, type Policy } from './policy/index.js'
import { createApp } from './server/create-app.js'
import { createKeyManager, type KeyManager } from './tokens/index.js'

export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

export function readOpenApiDocument(): string {
  return readFileSync(resolve(PACKAGE_ROOT, 'openapi.yaml'), 'utf8')
}

export interface BrokerOptions {
  logger: Logger
  clock?: Clock
  /** Use this store instead of building one from config (tests share one). */
  store?: GrantStore
  /** Use this policy instead of reading config.policyFile. */
  policy?: Policy
}

export interface Broker {
  app: ReturnType<typeof createApp>
  store: GrantStore
  policy: Policy
  keys: KeyManager
  /** Stops background work and closes the store (when the broker opened it). */
  close(): Promise<void>
}

/** Key refresh period: picks up rotations made by other replicas and rotates when due. */
const KEY_REFRESH_MS = 30_000

/** Builds every dependency from a validated config and wires the HTTP app. */
export async function createBroker(config: Config, options: BrokerOptions): Promise<Broker> {
  const clock = options.clock ?? systemClock
  const { logger } = options
  const policy = options.policy ?? loadPolicyFile(config.policyFile)
  const ownsStore = !options.store
  const store =
    options.store ??
    (config.store.kind === 'redis'
      ? createRedisStore({
          url: config.store.redisUrl!,
          keyPrefix: config.store.keyPrefix,
          commandTimeoutMs: config.store.commandTimeoutMs,
          clock,
        })
      : createMemoryStore({ clock }))

  const keys = createKeyManager({
    alg: config.keys.alg,
    source: config.keys.source,
    store,
    ...(config.keys.kek ? { kek: config.keys.kek } : {}),
    ...(config.keys.files ? { files: config.keys.files } : {}),
    rotationSeconds: config.keys.rotationSeconds,
    maxTokenTtlSeconds: config.tokens.maxTtlSeconds,
    clock,
  })
  try {
    await keys.init()
  } catch (err) {
    if (ownsStore) await store.close()
    throw err
  }

  const clients = createClientAuthenticator({
    getClient: (id) => policy.clients.get(id),
    store,
    issuer: config.issuer,
    tokenEndpoint: `${config.issuer}/oauth/token`,
    clock,
    secretCacheSeconds: config.clientAuth.secretCacheSeconds,
    assertionMaxAgeSeconds: config.clientAuth.assertionMaxAgeSeconds,
  })

  const app = createApp({ config, policy, store, keys, clients, clock, logger, openapi: readOpenApiDocument() })

  const refresh = setInterval(() => {
    keys.refresh().catch((err: unknown) => {
      logger.warn('signing key refresh failed; keeping current keys', {
        err: err instanceof Error ? err.message : String(err),
      })
    })
  }, KEY_REFRESH_MS)
  refresh.unref()

  return {
    app,
    store,
    policy,
    keys,
    async close() {
      clearInterval(refresh)
      if (ownsStore) await store.close()
    },
  }
}
