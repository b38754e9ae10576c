import type { AuditQuery } from './audit-index-refs.js'
import type { AuditActor, AuditEvent, AuditEventInput, AuditHead } from './types.js'

export interface AuditReadOptions {
  /** First seq to return (default 1: the oldest event still kept). */
  fromSeq?: number
  /** At most this many events (default 1000, at most 10,000). */
  limit?: number
}

export interface AuditTrimOptions {
  /** Where the removed events were exported to (kept in the `audit.trimmed` event). */
  exportedTo: string
  actor?: AuditActor
}

/**
 * The append-only, hash-chained audit log. Two implementations: memory (the embedded default, one
 * process) and Redis (one stream shared by every broker replica).
 *
 * Every event gets the next `seq`, the `time` it was appended, the `hash` of the event before
 * (`prev`) and its own `hash` (see `hashAuditEvent`). Appends from one process are batched: while
 * one batch is being written, new events queue and go together in the next one (one round trip
 * per batch). Replicas append concurrently; each batch is written atomically only if the log's
 * head is still the one it was chained on, otherwise it is re-chained on the new head and retried.
 * Every `checkpointEveryEvents` events or `checkpointEverySeconds` seconds the log appends an
 * `audit.checkpoint` event: a JWS by the broker's signing key over the seq and hash before it.
 */
export interface AuditLog {
  readonly kind: 'memory' | 'redis'

  /**
   * Appends an event and resolves with it once it is durable in the log (chained and written).
   * Rejects with a WritError `temporarily_unavailable` (503) when the log cannot be written (the
   * event may or may not be in the log then), and with a TypeError when the event is not plain
   * JSON or is larger than the limit (then nothing is written).
   */
  append(event: AuditEventInput): Promise<AuditEvent>

  /** Events in seq order from `fromSeq`. */
  read(options?: AuditReadOptions): Promise<AuditEvent[]>

  /**
   * The events indexed under a grant, task, approval or approver, in seq order (at most `limit`,
   * default 10,000).
   */
  find(query: AuditQuery, options?: { limit?: number }): Promise<AuditEvent[]>

  /** The last event's seq and hash, and the last checkpoint's seq. */
  head(): Promise<AuditHead>

  /**
   * Appends a checkpoint now, unless the last event already is one. Resolves with the checkpoint
   * event, or null when there was nothing to cover.
   */
  checkpoint(): Promise<AuditEvent | null>

  /**
   * Removes the events before `beforeSeq`, which must all have been exported first (an
   * `audit.exported` event covering them; see `exportAudit`): refuses with a WritError
   * `invalid_request` otherwise. Appends an `audit.trimmed` event before removing anything, and
   * keeps at least the last event. Resolves with how many events were removed.
   */
  trim(beforeSeq: number, options: AuditTrimOptions): Promise<number>

  /** Resolves once every event appended so far is written (or has failed). */
  flush(): Promise<void>

  /** Stops the checkpoint timer and waits for pending appends; later appends fail. */
  close(): Promise<void>
}
