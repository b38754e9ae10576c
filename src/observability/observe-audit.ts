import type { AuditLog, SharedAuditIntake } from '../audit/audit-log.js'
import type { Auditor } from '../audit/create-auditor.js'
import type { AuditEventInput, EncodedAuditEvent } from '../audit/types.js'
import { WritError } from '../errors.js'
import type { BrokerMetrics } from './broker-metrics.js'

type Counted = Pick<
  BrokerMetrics,
  'approvalRequests' | 'approvalsDecided' | 'approvalDecisionSeconds' | 'revocations' | 'grantsRevoked'
>

export interface ObserveAuditorOptions {
  metrics: Counted
  /** When an approval request was created (ms), to time its decision; undefined if unknown. */
  approvalCreatedAt(approvalId: string): Promise<number | undefined>
  now(): number
}

/** The decisions `writ_approvals_decided_total` counts, by the event that records each. */
const DECISIONS: Partial<Record<string, string>> = {
  'approval.denied': 'denied',
  'approval.expired': 'expired',
  'approval.revoked': 'revoked',
}

/**
 * Counts what the broker decides from the audit events that record it, so no domain code calls a
 * metric: every approval, denial, expiry and revocation is already an event through the auditor
 * (whether or not the log is on). Counted when handed to the auditor, before it is durable.
 */
export function observeAuditor(auditor: Auditor, options: ObserveAuditorOptions): Auditor {
  const { metrics } = options

  const decided = (outcome: string, approvalId: string): void => {
    metrics.approvalsDecided.inc({ outcome })
    options.approvalCreatedAt(approvalId).then(
      (createdAt) => {
        if (createdAt !== undefined) {
          metrics.approvalDecisionSeconds.observe({ outcome }, Math.max(0, (options.now() - createdAt) / 1000))
        }
      },
      () => {},
    )
  }

  const count = (event: AuditEventInput | EncodedAuditEvent): void => {
    if ('encode' in event) return
    switch (event.type) {
      case 'approval.requested':
        metrics.approvalRequests.inc()
        return
      case 'approval.approved':
        // Only the vote that completes an N-of-M approval decides it.
        if (event.complete) decided('approved', event.approval)
        return
      case 'approval.denied':
      case 'approval.expired':
      case 'approval.revoked':
        decided(DECISIONS[event.type]!, event.approval)
        return
      case 'grant.revoked':
        metrics.revocations.inc({ scope: event.scope })
        metrics.grantsRevoked.inc({ scope: event.scope }, event.count)
        return
      default:
        return
    }
  }

  return {
    get enabled() {
      return auditor.enabled
    },
    get log() {
      return auditor.log
    },
    get sharedIntake() {
      return auditor.sharedIntake
    },
    record(event) {
      count(event)
      return auditor.record(event)
    },
    note(event) {
      count(event)
      return auditor.note(event)
    },
    noteRepeated: (key, event) => auditor.noteRepeated(key, event),
    flush: () => auditor.flush(),
    close: () => auditor.close(),
  }
}

export interface ObservedAuditLog {
  log: AuditLog
  /** Events this broker took in that are not yet chained (0 when it has taken none in). */
  unchained(): Promise<number>
}

/**
 * Wraps the audit log to count failed writes (`writ_audit_write_failures_total`) and to know the
 * highest seq this broker took in, which against the chained head gives the chain's lag.
 */
export function observeAuditLog(log: AuditLog, metrics: Pick<BrokerMetrics, 'auditWriteFailures'>): ObservedAuditLog {
  let highest = 0
  const seen = (seq: number): number => ((highest = Math.max(highest, seq)), seq)
  const failed = (err: unknown): never => {
    // A refusal of the write the event rides with (a quota, a lock) is not a failed audit write.
    if (!(err instanceof WritError && err.status < 500)) metrics.auditWriteFailures.inc()
    throw err
  }
  const intake: SharedAuditIntake | undefined = log.sharedIntake && {
    client: log.sharedIntake.client,
    streamKey: log.sharedIntake.streamKey,
    firstKey: log.sharedIntake.firstKey,
    append: (event, write) => log.sharedIntake!.append(event, write).then(seen, failed),
  }
  const observed: AuditLog = Object.create(log) as AuditLog
  Object.assign(observed, {
    append: (event: AuditEventInput) =>
      log.append(event).then((appended) => (seen(appended.seq), appended), failed),
    appendEncoded: (event: EncodedAuditEvent) => log.appendEncoded(event).then(seen, failed),
    sharedIntake: intake,
  })
  return {
    log: observed,
    async unchained() {
      if (highest === 0) return 0
      return Math.max(0, highest - (await log.head()).seq)
    },
  }
}
