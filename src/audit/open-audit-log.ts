import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { RedisGrantStore } from '../grants/redis-store.js'
import type { GrantStore } from '../grants/store.js'
import type { AuditLog } from './audit-log.js'
import { createMemoryAuditLog } from './memory-audit-log.js'
import { createRedisAuditLog } from './redis-audit-log.js'
import type { AuditSigner } from './sign-audit-jws.js'

export interface OpenAuditLogOptions {
  settings: Config['audit']
  issuer: string
  /** The grant store: a Redis store shares its client and prefix with the log. */
  store: GrantStore
  signer: AuditSigner
  clock: Clock
  /** Where `settings.stdout` writes each event line. */
  stdout: (line: string) => void
  commandTimeoutMs?: number
}

/**
 * The audit log the configuration asks for, beside the grant store: one Redis stream shared by
 * every replica when the store is Redis, in memory otherwise; undefined when auditing is off.
 */
export function openAuditLog(options: OpenAuditLogOptions): AuditLog | undefined {
  const { settings, store } = options
  if (!settings.enabled) return undefined
  const common = {
    clock: options.clock,
    issuer: options.issuer,
    signer: options.signer,
    checkpointEveryEvents: settings.checkpointEveryEvents,
    checkpointEverySeconds: settings.checkpointEverySeconds,
    batchMaxEvents: settings.batchMaxEvents,
    chainDelayMs: settings.chainDelayMs,
    ...(settings.stdout ? { mirror: options.stdout } : {}),
  }
  if (store.kind === 'redis' && 'redis' in store) {
    const redisStore = store as RedisGrantStore
    // The store's own connection (it auto-pipelines): a token's `grant.issued` intake and its
    // grant's record leave in the same write and their replies come back in the same read. A large
    // chain batch (at most `batchMaxEvents`) may delay the store's next commands by the time Redis
    // takes to run it, a few milliseconds at most.
    return createRedisAuditLog({
      ...common,
      redis: redisStore.redis,
      keyPrefix: redisStore.keys.prefix,
      ...(options.commandTimeoutMs === undefined
        ? {}
        : { commandTimeoutMs: options.commandTimeoutMs }),
    })
  }
  return createMemoryAuditLog(common)
}
