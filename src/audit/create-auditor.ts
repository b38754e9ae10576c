import type { Clock } from '../clock.js'
import { WritError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { AuditLog, SharedAuditIntake } from './audit-log.js'
import { auditUnavailable } from './create-audit-log.js'
import type {
  AdminAuthFailedEvent,
  AuditEventInput,
  ClientAuthFailedEvent,
  EncodedAuditEvent,
} from './types.js'

/** An event `noteRepeated` coalesces: without the counters it fills in. */
export type RepeatedEventInput =
  | Omit<ClientAuthFailedEvent, 'count' | 'first_at' | 'last_at'>
  | Omit<AdminAuthFailedEvent, 'count' | 'first_at' | 'last_at'>

/**
 * What the rest of the broker calls to audit. Two ways to append, by what the event is about:
 *
 * - `record` for what grants privilege (a token, credentials, an approval): it resolves once the
 *   event is durable and throws a 503 WritError when it cannot be written, so the caller fails
 *   closed. No token leaves the broker without its `grant.issued` event in the log.
 * - `note` for what removes privilege or was refused (revocations, denials, failures): it never
 *   throws; a failure is logged at error level with the whole event. A revocation is never held
 *   back because the audit log is down.
 */
export interface Auditor {
  /** False when auditing is turned off (`audit.enabled: false`): every call then does nothing. */
  readonly enabled: boolean
  /** The log, for reading (admin routes); undefined when auditing is off. */
  readonly log: AuditLog | undefined
  record(event: AuditEventInput | EncodedAuditEvent): Promise<void>
  /**
   * The log's shared intake (see `SharedAuditIntake`), when another writer can take events in with
   * its own atomic write; what `record` guarantees holds for its appends too.
   */
  readonly sharedIntake: SharedAuditIntake | undefined
  note(event: AuditEventInput): Promise<void>
  /**
   * Notes failures coalesced per `key` (e.g. the claimed client id): the first in a window is
   * noted at once with `count: 1`; later ones in the same window are counted and noted as one
   * event when the window ends. Bounds what an unauthenticated flood can write to the log.
   */
  noteRepeated(key: string, event: RepeatedEventInput): void
  /** Notes every coalesced count now and waits for pending appends. */
  flush(): Promise<void>
  /** Stops the coalescing timer, notes what it holds, and closes the log. */
  close(): Promise<void>
}

export interface AuditorOptions {
  /** Undefined turns auditing off. */
  log: AuditLog | undefined
  logger: Logger
  clock: Clock
  /** Window over which `noteRepeated` coalesces. Default 60. */
  repeatWindowSeconds?: number
  /** Distinct keys coalesced at once; beyond, failures count under the key `*`. Default 1000. */
  maxRepeatKeys?: number
}

interface Repeat {
  event: RepeatedEventInput
  firstMs: number
  lastMs: number
  /** Failures since the one noted at the window's start. */
  more: number
  windowEndMs: number
}

/**
 * Creates the auditor over an audit log (see {@link Auditor}).
 *
 * @example
 * const audit = createAuditor({ log, logger, clock: systemClock })
 * await audit.record({ type: 'credential.vended', actor: `client:${clientId}`, ... })
 */
export function createAuditor(options: AuditorOptions): Auditor {
  const { log, logger, clock } = options
  const windowMs = (options.repeatWindowSeconds ?? 60) * 1000
  const maxKeys = options.maxRepeatKeys ?? 1000
  const repeats = new Map<string, Repeat>()
  const inFlight = new Set<Promise<void>>()

  const note = (event: AuditEventInput): Promise<void> => {
    if (!log) return Promise.resolve()
    const done = log.append(event).then(
      () => undefined,
      (err: unknown) => {
        logger.error('audit event not written', {
          err: err instanceof Error ? err.message : String(err),
          event: event as unknown as Record<string, unknown>,
        })
      },
    )
    inFlight.add(done)
    void done.finally(() => inFlight.delete(done))
    return done
  }

  const iso = (ms: number): string => new Date(ms).toISOString()

  const noteSummary = (entry: Repeat): void => {
    if (entry.more === 0) return
    const counts = { count: entry.more, first_at: iso(entry.firstMs), last_at: iso(entry.lastMs) }
    void note({ ...entry.event, ...counts } as AuditEventInput)
  }

  const sweep = (all: boolean): void => {
    const now = clock()
    for (const [key, entry] of repeats) {
      if (!all && now < entry.windowEndMs) continue
      noteSummary(entry)
      repeats.delete(key)
    }
  }

  const timer = setInterval(() => sweep(false), windowMs)
  timer.unref()

  return {
    enabled: log !== undefined,
    log,

    record(event) {
      if (!log) return Promise.resolve()
      const appended = 'encode' in event ? log.appendEncoded(event) : log.append(event)
      return appended.then(
        () => undefined,
        (err: unknown) => {
          throw err instanceof WritError ? err : auditUnavailable(err)
        },
      )
    },

    sharedIntake: log?.sharedIntake,

    note,

    noteRepeated(requestedKey, event) {
      if (!log) return
      const now = clock()
      const key = repeats.has(requestedKey) || repeats.size < maxKeys ? requestedKey : '*'
      const existing = repeats.get(key)
      if (existing && now < existing.windowEndMs) {
        existing.more++
        if (existing.more === 1) existing.firstMs = now
        existing.lastMs = now
        return
      }
      if (existing) noteSummary(existing)
      const stored: RepeatedEventInput =
        key === '*' && event.type === 'client.auth_failed' ? { ...event, client: '*' } : event
      repeats.set(key, {
        event: stored,
        firstMs: now,
        lastMs: now,
        more: 0,
        windowEndMs: now + windowMs,
      })
      void note({ ...event, count: 1, first_at: iso(now), last_at: iso(now) } as AuditEventInput)
    },

    async flush() {
      sweep(true)
      while (inFlight.size > 0) await Promise.all([...inFlight])
      await log?.flush()
    },

    async close() {
      clearInterval(timer)
      sweep(true)
      while (inFlight.size > 0) await Promise.all([...inFlight])
      await log?.close()
    },
  }
}
