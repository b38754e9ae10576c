/** The chain's head as backends keep it: the last chained event and the last checkpoint. */
export interface HeadState {
  /** The last chained event (0 for none). */
  seq: number
  hash: string
  /** Seq of the last checkpoint event taken in (0 when none). */
  checkpointSeq: number
  /** The seq that checkpoint signed (0 when none): a checkpoint is due `everyEvents` after it. */
  coveredSeq: number
  /** Milliseconds since the epoch, by the clock of the broker that wrote the checkpoint. */
  checkpointTimeMs: number
}

/** An event as taken in: its seq and body (canonical JSON without `seq`, `prev`, `hash`). */
export interface IntakeEntry {
  seq: number
  body: string
}

/** One step of the chain: consecutive events' hashes, their index entries, maybe a checkpoint. */
export interface ChainStep {
  /** Written only if the stored head is still at this seq (compare-and-set). */
  expectedSeq: number
  /** The head once written; `checkpointSeq` is replaced by the checkpoint's seq when one is taken in. */
  next: HeadState
  /** Seq of the first hash. */
  firstSeq: number
  /** Hex SHA-256 of each event from `firstSeq` on, in order. */
  hashes: string[]
  /** Each index reference the chained events are listed under, with their seqs in order. */
  index: Map<string, number[]>
  /** Body of a checkpoint to take in after the step (it gets the next free seq). */
  checkpoint?: string
}

/**
 * Storage under an audit log (memory or Redis). Appending is two steps: `intake` stores an event's
 * body and assigns it the next seq atomically (one cheap write on the request path); `chain` later
 * stores the hashes of taken-in events in order, with their index entries. `createAuditLog` does
 * the hashing, checkpoints and composition of events on top.
 */
export interface AuditBackend {
  readonly kind: 'memory' | 'redis'
  /**
   * The stream other scripts on the same server can take bodies into, and the hash of each index
   * reference's first seq they may index a new reference in (see `SharedAuditIntake`).
   */
  readonly sharedStream?: { client: object; key: string; firstKey: string }
  /** Stores a body durably under the next seq and resolves with that seq. */
  intake(body: string): Promise<number>
  /** The last seq taken in (0 when none). */
  lastSeq(): Promise<number>
  loadHead(): Promise<HeadState>
  /**
   * Writes a chain step atomically if the stored head is at `step.expectedSeq`: resolves with the
   * seq of the checkpoint taken in (null for none), or with the stored head when it was not there.
   */
  chain(step: ChainStep): Promise<{ head: HeadState } | { checkpointSeq: number | null }>
  /** Bodies from `fromSeq` in seq order, at most `limit` (trimmed ones are gone). */
  readBodies(fromSeq: number, limit: number): Promise<IntakeEntry[]>
  /** The chained hashes of seqs `fromSeq` to `toSeq` that are kept, by seq. */
  readHashes(fromSeq: number, toSeq: number): Promise<Map<number, string>>
  /** Seqs listed under an index reference (see `auditIndexRefs`), in order, at most `limit`. */
  find(ref: string, limit: number): Promise<number[]>
  /**
   * Removes the bodies with seq < `beforeSeq`, their index entries, and the hashes before
   * `beforeSeq - 1` (that one stays: the next event's `prev`). Resolves with how many events.
   */
  trimBefore(beforeSeq: number): Promise<number>
  /** Releases what the backend owns, once every append has settled. */
  close?(): Promise<void>
}
