import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { type TalliedCounter, type TalliedHistogram, talliedCounter, talliedHistogram } from './tallies.js'

/**
 * Readings taken when Prometheus scrapes, not counted as things happen: each may ask the store,
 * so a scrape costs a few commands and never the request path. A reading that fails leaves its
 * gauge out of that scrape (a gap, not a wrong number).
 */
export interface MetricReadings {
  /** Live grants in the store, every client. */
  liveGrants(): Promise<number>
  /** Approval requests waiting for a decision. */
  pendingApprovals(): Promise<number>
  /** Seconds since the current signing key started signing. */
  signingKeyAgeSeconds(): number
  /** Audit events this broker took in that are not chained yet. */
  auditUnchainedEvents(): Promise<number>
}

/** The outcome of one request to a token route, as `writ_token_requests_total` counts it. */
export type TokenOutcome = 'issued' | 'pending' | 'denied' | 'invalid' | 'rate_limited' | 'error'

/**
 * Every metric the broker exports, on a registry of its own (no global state: tests build as many
 * brokers as they like). The names are the contract with dashboards (deploy/grafana/) and alerts.
 * The metrics moved on every request are tallies (./tallies.ts): their children are bound to their
 * label values once and add plain numbers, which prom-client collects at each scrape.
 */
export interface BrokerMetrics {
  readonly registry: Registry
  /** Requests by route template, method and status class; duration in seconds. */
  readonly httpRequestSeconds: TalliedHistogram<'method' | 'route' | 'status'>
  /** Requests to the token routes by outcome. */
  readonly tokenRequests: TalliedCounter<'route' | 'outcome'>
  /** Time to answer a request that issued a token. */
  readonly issuanceSeconds: TalliedHistogram<'route'>
  readonly approvalRequests: Counter
  readonly approvalsDecided: Counter<'outcome'>
  /** From the request's creation to its decision. */
  readonly approvalDecisionSeconds: Histogram<'outcome'>
  /** Revocations by what they named (grant, task, client, approver, all) ... */
  readonly revocations: Counter<'scope'>
  /** ... and the grants they took out. */
  readonly grantsRevoked: Counter<'scope'>
  readonly storeCommandSeconds: TalliedHistogram<'store' | 'command'>
  readonly storeCommandErrors: TalliedCounter<'store' | 'command'>
  readonly auditWriteFailures: Counter
  /** Requests refused with 429 (rate limits, failure budgets, quotas) by route. */
  readonly rateLimited: TalliedCounter<'route'>
}

/** Every metric name {@link createBrokerMetrics} registers besides the process ones. */
export const BROKER_METRIC_NAMES = [
  'writ_http_request_duration_seconds',
  'writ_token_requests_total',
  'writ_token_issuance_duration_seconds',
  'writ_approval_requests_total',
  'writ_approvals_pending',
  'writ_approvals_decided_total',
  'writ_approval_decision_duration_seconds',
  'writ_revocations_total',
  'writ_grants_revoked_total',
  'writ_live_grants',
  'writ_store_command_duration_seconds',
  'writ_store_command_errors_total',
  'writ_audit_unchained_events',
  'writ_audit_write_failures_total',
  'writ_signing_key_age_seconds',
  'writ_rate_limited_total',
] as const

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
const DECISION_BUCKETS = [5, 15, 30, 60, 120, 300, 600, 1800, 3600, 86_400]

export function createBrokerMetrics(readings: MetricReadings, onReadingFailed: (name: string, err: unknown) => void): BrokerMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const registers = [registry]

  // A sampled gauge: set from its reading at each scrape, left out of a scrape whose reading failed.
  const sampled = (name: string, help: string, read: () => Promise<number> | number): void => {
    new Gauge({
      name,
      help,
      registers,
      async collect() {
        this.reset()
        try {
          this.set(await read())
        } catch (err) {
          onReadingFailed(name, err)
        }
      },
    })
  }
  sampled('writ_live_grants', 'Live grants in the store, every client (read at scrape).', readings.liveGrants)
  sampled('writ_approvals_pending', 'Approval requests waiting for a decision (read at scrape).', readings.pendingApprovals)
  sampled('writ_signing_key_age_seconds', 'Seconds since the current signing key started signing.', readings.signingKeyAgeSeconds)
  sampled(
    'writ_audit_unchained_events',
    'Audit events this broker took in that are not yet hash-chained (read at scrape).',
    readings.auditUnchainedEvents,
  )

  return {
    registry,
    httpRequestSeconds: talliedHistogram({
      name: 'writ_http_request_duration_seconds',
      help: 'HTTP requests by method, route template and status class (2xx, 4xx, ...), in seconds.',
      labelNames: ['method', 'route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    tokenRequests: talliedCounter({
      name: 'writ_token_requests_total',
      help: 'Requests to the token routes by outcome: issued, pending (approval), denied, invalid, rate_limited, error.',
      labelNames: ['route', 'outcome'],
      registers,
    }),
    issuanceSeconds: talliedHistogram({
      name: 'writ_token_issuance_duration_seconds',
      help: 'Time to answer a token request that issued a token, in seconds.',
      labelNames: ['route'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    approvalRequests: new Counter({
      name: 'writ_approval_requests_total',
      help: 'Approval requests created (a token request that waits for people).',
      registers,
    }),
    approvalsDecided: new Counter({
      name: 'writ_approvals_decided_total',
      help: 'Approval requests ended by outcome: approved, denied, expired, revoked.',
      labelNames: ['outcome'],
      registers,
    }),
    approvalDecisionSeconds: new Histogram({
      name: 'writ_approval_decision_duration_seconds',
      help: 'Time from an approval request to its decision, in seconds.',
      labelNames: ['outcome'],
      buckets: DECISION_BUCKETS,
      registers,
    }),
    revocations: new Counter({
      name: 'writ_revocations_total',
      help: 'Revocations by scope (grant, task, client, approver, all).',
      labelNames: ['scope'],
      registers,
    }),
    grantsRevoked: new Counter({
      name: 'writ_grants_revoked_total',
      help: 'Grants taken out by revocations, by the revocation scope.',
      labelNames: ['scope'],
      registers,
    }),
    storeCommandSeconds: talliedHistogram({
      name: 'writ_store_command_duration_seconds',
      help: 'Store operations (grants, approvals, locks) by store and operation, in seconds.',
      labelNames: ['store', 'command'],
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    storeCommandErrors: talliedCounter({
      name: 'writ_store_command_errors_total',
      help: 'Store operations that failed, by store and operation.',
      labelNames: ['store', 'command'],
      registers,
    }),
    auditWriteFailures: new Counter({
      name: 'writ_audit_write_failures_total',
      help: 'Audit events that could not be written.',
      registers,
    }),
    rateLimited: talliedCounter({
      name: 'writ_rate_limited_total',
      help: 'Requests refused with 429 (rate limits, failure budgets, quotas), by route template.',
      labelNames: ['route'],
      registers,
    }),
  }
}
