import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { StoreBackend } from '../store/store-backend.js'
import type { AuditLog } from './audit-log.js'
import { createMemoryAuditLog } from './memory-audit-log.js'
import { createRedisAuditLog } from './redis-audit-log.js'
import type { AuditSigner } from './sign-audit-jws.js'

export interface OpenAuditLogOptions {
  settings: Config['audit']
  issuer: string
  /** What the store lives on: on Redis, the log shares its connection and key prefix. */
  backend: StoreBackend
  signer: AuditSigner
  clock: Clock
  /** Where `settings.stdout` writes each event line. */
  stdout: (line: string) => void
  commandTimeoutMs?: number
}

/**
 * The audit log the configuration asks for, beside the store: one Redis stream shared by
 * every replica when the store is Redis, in memory otherwise; undefined when auditing is off.
 */
export function openAuditLog(options: OpenAuditLogOptions): AuditLog | undefined {
  const { settings, backend } = options
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
  if (backend.kind === 'redis') {
    // The store's own connection (it auto-pipelines): a token's `grant.issued` intake and its
    // grant's record leave in the same write and their replies come back in the same read. A large
    // chain batch (at most `batchMaxEvents`) may delay the store's next commands by the time Redis
    // takes to run it, a few milliseconds at most.
    return createRedisAuditLog({
      ...common,
      redis: backend.redis,
      keyPrefix: backend.keys.prefix,
      ...(options.commandTimeoutMs === undefined
        ? {}
        : { commandTimeoutMs: options.commandTimeoutMs }),
    })
  }
  return createMemoryAuditLog(common)
}
