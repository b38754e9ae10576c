import type { AuditQuery } from './audit-index-refs.js'
import type {
  AppendedEvent,
  AuditActor,
  AuditEvent,
  AuditEventInput,
  AuditHead,
  EncodedAuditEvent,
} from './types.js'

/**
 * Taking events into a Redis log from another writer's script, so that the writer's record and
 * its audit event are written together or not at all (the grant store's create script does this
 * for `grant.issued`).
 */
export interface SharedAuditIntake {
  /** The Redis client whose server holds the stream. */
  readonly client: object
  /** The stream: `XADD <streamKey> 0-* e <body>` takes a body in under the next seq. */
  readonly streamKey: string
  /**
   * The hash of each index reference's first seq: a writer that knows its event is the first to
   * name a reference (a new grant's `g:<grant>`) may index it in the same script,
   * `HSETNX <firstKey> <ref> <seq>`, and report it, so chaining need not (references as `queryRef` writes them).
   */
  readonly firstKey: string
  /**
   * Appends an encoded event whose body `write` takes in (along with its own writes) and resolves
   * with the seq `write` reports, once durable; the event is then chained like any other, and
   * indexed under its references but those `write` reports it indexed. An error of `write` is
   * passed on as it is; the log's own ones are as for `appendEncoded`.
   */
  append(event: EncodedAuditEvent, write: (body: string) => Promise<SharedIntakeWrite>): Promise<number>
}

/** What the writer of a {@link SharedAuditIntake} reports: the event's seq, the references it indexed. */
export interface SharedIntakeWrite {
  seq: number
  /** References the writer indexed with `HSETNX` (their first seq is this event's). */
  indexed: readonly string[]
}

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
 * Every event gets the next `seq` and the `time` it was appended, the `hash` of the event before
 * (`prev`) and its own `hash` (see `hashAuditEvent`). Appending is two steps: the event is taken in
 * at once, durably, with its seq assigned atomically (one write per event, sent with the request's
 * other commands); a chainer in each process then hashes what was taken in, in seq order, in
 * batches (within `chainDelayMs`), and stores the hashes and index entries with a compare-and-set
 * on the chain's head, so replicas chaining at once never write a seq twice. Every
 * `checkpointEveryEvents` events or `checkpointEverySeconds` seconds the chainer takes in an
 * `audit.checkpoint` event: a JWS by the broker's signing key over the seq and hash of the last
 * event it chained. Readers see chained events only, and chain what is pending first.
 *
 * Tamper evidence comes from the checkpoints: a hash chain alone can be recomputed by whoever can
 * write the store. Events after the last checkpoint are covered once the next one is written (or by
 * the signed seal of an export).
 */
export interface AuditLog {
  readonly kind: 'memory' | 'redis'

  /**
   * Appends an event and resolves with it, its seq and time, once it is durable in the log (its
   * hashes follow when it is chained). Rejects with a WritError `temporarily_unavailable` (503) when
   * the log cannot be written (the event may or may not be in the log then), and with a TypeError
   * when the event is not plain JSON or is larger than the limit (then nothing is written).
   */
  append(event: AuditEventInput): Promise<AppendedEvent>

  /**
   * Appends an event that brings its own canonical body (see {@link EncodedAuditEvent}; the
   * issuance hot path's `grant.issued`) and resolves with its seq once it is durable. Fails as
   * `append` does.
   */
  appendEncoded(event: EncodedAuditEvent): Promise<number>

  /**
   * Present when another writer can take events into this log inside its own atomic write: a
   * Redis log on a single Redis or Sentinel, whose stream a script of the grant store on the same
   * client can `XADD` to (see {@link SharedAuditIntake}). Undefined for the memory log and on Redis
   * Cluster, where the stream lives in its own slot.
   */
  readonly sharedIntake?: SharedAuditIntake

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

  /** Resolves once every event appended so far is written and chained (or has failed). */
  flush(): Promise<void>

  /** Stops the checkpoint timer and waits for pending appends; later appends fail. */
  close(): Promise<void>
}
