import { type Context, context, trace, type Tracer } from '@opentelemetry/api'
import type { ApprovalStore } from '../approvals/store/store.js'
import type { AuditLog } from '../audit/audit-log.js'
import type { Auditor } from '../audit/create-auditor.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { GrantStore } from '../grants/store.js'
import type { Logger } from '../logger.js'
import type { Policy } from '../policy/index.js'
import { createRequestScopes, type RequestScopes } from '../request-scope.js'
import type { KeyManager } from '../tokens/index.js'
import { type BrokerMetrics, createBrokerMetrics } from './broker-metrics.js'
import { instrumentCalls } from './instrument-calls.js'
import { observeAuditLog, observeAuditor } from './observe-audit.js'

/** What the scrape-time readings read, known once the broker has built them. */
export interface TelemetrySources {
  store: GrantStore
  approvals: ApprovalStore
  keys: KeyManager
  /** The policy in force. */
  policy: () => Policy
}

/**
 * Metrics and tracing, put in at the seams the composition root builds (stores, audit log,
 * auditor, signing, the HTTP app); nothing in the domains calls them.
 */
export interface Telemetry {
  /** Undefined with `metrics.enabled: false`. */
  readonly metrics: BrokerMetrics | undefined
  /** Undefined when tracing is turned off; else the API's tracer (a no-op without an SDK). */
  readonly tracer: Tracer | undefined
  /** Where a request's span is kept for its children to find (see `observeRequests`). */
  readonly scopes: RequestScopes
  /** `store` with every call timed and traced (see `instrumentCalls`). */
  instrumentStore<T extends object>(store: T, component: string, nested?: Record<string, string>): T
  observeAuditLog(log: AuditLog | undefined): AuditLog | undefined
  observeAuditor(auditor: Auditor): Auditor
  /** Runs `sign` in a child span `tokens.sign`. */
  traceSigning<T>(sign: () => Promise<T>): Promise<T>
  /** Tells the readings what to read; before this, a scrape leaves the sampled gauges out. */
  readFrom(sources: TelemetrySources): void
}

export interface TelemetryOptions {
  config: Pick<Config, 'metrics'>
  logger: Logger
  clock: Clock
  /** The tracer; false turns tracing off. Default: `trace.getTracer('writ')` from the global API. */
  tracer?: Tracer | false | undefined
  /** The broker's request scope (default: a new one). */
  scopes?: RequestScopes | undefined
}

/** Most approval requests the pending gauge reads at one scrape. */
const PENDING_READ_LIMIT = 10_000

export function createTelemetry(options: TelemetryOptions): Telemetry {
  const { clock, logger } = options
  const tracer = options.tracer === false ? undefined : (options.tracer ?? trace.getTracer('writ'))
  const scopes = options.scopes ?? createRequestScopes()
  // The parent of a child span: the running request's span, else whatever span is active.
  const parent = (): Context => scopes.current()?.trace ?? context.active()
  let sources: TelemetrySources | undefined
  let unchained: (() => Promise<number>) | undefined

  const need = (): TelemetrySources => {
    if (!sources) throw new Error('not started')
    return sources
  }
  const metrics = options.config.metrics.enabled
    ? createBrokerMetrics(
        {
          async liveGrants() {
            const { store, policy } = need()
            // The clients the policy declares: one count each, however many grants they hold.
            const counts = await Promise.all([...policy().clients.keys()].map((id) => store.countLiveGrants(id)))
            return counts.reduce((a, b) => a + b, 0)
          },
          async pendingApprovals() {
            return (await need().approvals.listPending(PENDING_READ_LIMIT)).length
          },
          signingKeyAgeSeconds() {
            const current = need().keys.list().find((key) => key.slot === 'current')
            if (!current) throw new Error('no current signing key')
            // Key times are epoch seconds.
            return Math.max(0, clock() / 1000 - (current.activatedAt ?? current.createdAt))
          },
          async auditUnchainedEvents() {
            return unchained ? unchained() : 0
          },
        },
        (name, err) =>
          logger.debug('metric reading failed; left out of this scrape', {
            metric: name,
            err: err instanceof Error ? err.message : String(err),
          }),
      )
    : undefined

  return {
    metrics,
    tracer,
    scopes,
    instrumentStore: (store, component, nested) =>
      instrumentCalls(store, { component, metrics, ...(tracer ? { tracer, parent } : {}), ...(nested ? { nested } : {}) }),
    observeAuditLog(log) {
      if (!log || !metrics) return log
      const observed = observeAuditLog(log, metrics)
      unchained = observed.unchained
      return observed.log
    },
    observeAuditor(auditor) {
      if (!metrics) return auditor
      return observeAuditor(auditor, {
        metrics,
        now: clock,
        // Requests record their creation in epoch seconds.
        approvalCreatedAt: async (id) => {
          const createdAt = sources ? (await sources.approvals.getRequest(id))?.request.createdAt : undefined
          return createdAt === undefined ? undefined : createdAt * 1000
        },
      })
    },
    traceSigning(sign) {
      if (!tracer) return sign()
      // A child of the request's span, not made active (signing makes no spans of its own).
      const span = tracer.startSpan('tokens.sign', undefined, parent())
      return sign().then(
        (signed) => (span.end(), signed),
        (err: unknown) => {
          span.end()
          throw err
        },
      )
    },
    readFrom(next) {
      sources = next
    },
  }
}
