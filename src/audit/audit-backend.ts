import type { AuditEvent } from './types.js'

/** The head as backends keep it: the last event, and the last checkpoint's seq and time. */
export interface HeadState {
  seq: number
  hash: string
  checkpointSeq: number
  /** Milliseconds since the epoch, by the clock of the broker that wrote the checkpoint. */
  checkpointTimeMs: number
}

/** An event ready to be written: chained, serialized, with its index references. */
export interface ChainedEvent {
  event: AuditEvent
  json: string
  refs: string[]
}

/**
 * Storage under an audit log (memory or Redis). `createAuditLog` does the chaining, batching and
 * checkpoints on top; a backend only stores atomically and reads back.
 */
export interface AuditBackend {
  readonly kind: 'memory' | 'redis'
  loadHead(): Promise<HeadState>
  /**
   * Writes `events` and sets the head to `next`, atomically, only if the head is still `expected`
   * (compared by hash). Resolves null when written, or the current head when it was not.
   */
  commit(expected: HeadState, events: ChainedEvent[], next: HeadState): Promise<HeadState | null>
  read(fromSeq: number, limit: number): Promise<AuditEvent[]>
  /** Events listed under an index reference (see `auditIndexRefs`), in seq order. */
  find(ref: string, limit: number): Promise<AuditEvent[]>
  /** Removes events with seq < `beforeSeq` and their index entries; resolves with how many. */
  trimBefore(beforeSeq: number): Promise<number>
  /** Releases what the backend owns (a connection), once every append has settled. */
  close?(): Promise<void>
}
