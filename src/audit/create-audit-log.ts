import type { Clock } from '../clock.js'
import { invalidRequest, WritError } from '../errors.js'
import { canonicalize } from '../manifest/canonicalize.js'
import type { AuditBackend } from './audit-backend.js'
import { createChainer } from './audit-chainer.js'
import { auditIndexRefs, queryRef } from './audit-index-refs.js'
import type {
  AuditLog,
  AuditReadOptions,
  AuditTrimOptions,
  SharedAuditIntake,
  SharedIntakeWrite,
} from './audit-log.js'
import { CHAIN_MEMBERS } from './hash-audit-event.js'
import { isoTime } from './iso-time.js'
import type { AuditSigner } from './sign-audit-jws.js'
import {
  GENESIS_HASH,
  type AppendedEvent,
  type AuditEvent,
  type AuditEventInput,
  type EncodedAuditEvent,
} from './types.js'

export interface AuditLogOptions {
  clock: Clock
  /** The broker's issuer: the `iss` of every checkpoint. */
  issuer: string
  /** Signs checkpoints: the broker's key manager. */
  signer: AuditSigner
  /** A checkpoint at least every this many events. Default 1000. */
  checkpointEveryEvents?: number
  /** A checkpoint at least every this many seconds while events arrive. Default 60. */
  checkpointEverySeconds?: number
  /** Most events chained in one batch. Default 256. */
  batchMaxEvents?: number
  /** How long a new event waits for others before their batch is chained, in ms. Default 100. */
  chainDelayMs?: number
  /** Receives each event this process appended, as one JSON line once chained (the structured-log mirror). */
  mirror?: (line: string) => void
  /** Largest event accepted, as JSON. Default 256 KiB. */
  maxEventBytes?: number
}

const DEFAULT_READ_LIMIT = 1000
const MAX_READ_LIMIT = 10_000
const DEFAULT_FIND_LIMIT = 10_000

export const auditUnavailable = (cause: unknown): WritError =>
  new WritError('temporarily_unavailable', 503, 'the audit log is unavailable; retry shortly', {
    cause,
    detail: cause instanceof Error ? cause.message : String(cause),
    retryAfterSeconds: 2,
  })

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer`)
  }
  return value
}

/** The event's body: the input's members that are not undefined (but not the chain's), and `time`. */
function body(input: AuditEventInput, time: string): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const fields = input as unknown as Record<string, unknown>
  for (const name in fields) {
    const value = fields[name]
    if (value === undefined || !Object.hasOwn(fields, name) || CHAIN_MEMBERS.has(name)) continue
    out[name] = value
  }
  out.time = time
  return out
}

/**
 * Builds an audit log over a backend (see {@link AuditLog}): each append is taken in at once (one
 * write, which a shared Redis client sends with the request's other commands); a chainer per
 * process hashes and indexes what was taken in, in batches, and checkpoints. Readers see chained
 * events only, and chain what is pending first. Use `createMemoryAuditLog` or `createRedisAuditLog`.
 */
export function createAuditLog(backend: AuditBackend, options: AuditLogOptions): AuditLog {
  const { clock } = options
  const everyEvents = positiveInteger(
    'checkpointEveryEvents',
    options.checkpointEveryEvents ?? 1000,
  )
  const everyMs =
    positiveInteger('checkpointEverySeconds', options.checkpointEverySeconds ?? 60) * 1000
  const batchMax = positiveInteger('batchMaxEvents', options.batchMaxEvents ?? 256)
  const delayMs = positiveInteger('chainDelayMs', options.chainDelayMs ?? 100)
  const maxEventBytes = positiveInteger('maxEventBytes', options.maxEventBytes ?? 256 * 1024)
  const chainer = createChainer(backend, {
    clock,
    issuer: options.issuer,
    signer: options.signer,
    everyEvents,
    everyMs,
    delayMs,
    batchMax,
    mirror: options.mirror,
  })
  /** Appends taken in by this process that have not settled yet. */
  const intakes = new Set<Promise<unknown>>()
  let closed = false

  const unavailable = (err: unknown): WritError =>
    err instanceof WritError ? err : auditUnavailable(err)

  /** Chains everything taken in so far, by any replica. */
  async function sync(): Promise<void> {
    try {
      await chainer.through(await backend.lastSeq())
    } catch (err) {
      throw unavailable(err)
    }
  }

  /** Chained events from their bodies; stops at the first one not chained yet. */
  async function compose(entries: Array<{ seq: number; body: string }>): Promise<AuditEvent[]> {
    if (entries.length === 0) return []
    const from = entries[0]!.seq
    const hashes = await backend.readHashes(Math.max(1, from - 1), entries.at(-1)!.seq)
    const out: AuditEvent[] = []
    for (const { seq, body: json } of entries) {
      const hash = hashes.get(seq)
      const prev = seq === 1 ? GENESIS_HASH : hashes.get(seq - 1)
      if (hash === undefined || prev === undefined) break
      out.push({ ...(JSON.parse(json) as AuditEventInput), seq, prev, hash } as AuditEvent)
    }
    return out
  }

  const isoNow = isoTime(clock)

  /**
   * Takes an event's body in (see `AuditBackend.intake`) in this turn of the event loop, so a
   * shared Redis client sends it together with the caller's other commands (the grant's record)
   * in one write; the chainer hashes it once its seq is known.
   */
  function takeIn(
    type: string,
    json: string,
    refs: readonly string[],
    write?: (body: string) => Promise<SharedIntakeWrite>,
  ): Promise<number> {
    if (closed) return Promise.reject(auditUnavailable(new Error('the audit log is closed')))
    if (json.length > maxEventBytes) {
      return Promise.reject(
        new TypeError(`audit event ${type} is larger than ${maxEventBytes} bytes`),
      )
    }
    let written: Promise<number | SharedIntakeWrite>
    try {
      written = write ? write(json) : backend.intake(json)
    } catch (err) {
      written = Promise.reject(err)
    }
    const done: Promise<number> = written.then(
      (result) => {
        intakes.delete(done)
        const seq = typeof result === 'number' ? result : result.seq
        // Ensure only a real seq is chained: another writer reports it (see SharedAuditIntake).
        if (!Number.isSafeInteger(seq) || seq < 1) {
          throw auditUnavailable(new Error(`the audit intake reported no seq (${String(seq)})`))
        }
        // References the writer indexed already are not indexed again when chained.
        const indexed = typeof result === 'number' ? undefined : result.indexed
        chainer.taken(seq, json, indexed?.length ? refs.filter((r) => !indexed.includes(r)) : refs)
        return seq
      },
      (err: unknown) => {
        intakes.delete(done)
        // Another writer's errors are its own (a quota, say); the backend's mean the log is away.
        throw write ? err : unavailable(err)
      },
    )
    intakes.add(done)
    return done
  }

  /** Encodes an event's body now (its time); a bad member is a TypeError. */
  function encoded(event: EncodedAuditEvent): string {
    try {
      return event.encode(isoNow())
    } catch (err) {
      throw err instanceof TypeError ? err : new TypeError(String(err))
    }
  }

  const stream = backend.sharedStream
  const sharedIntake: SharedAuditIntake | undefined = stream && {
    client: stream.client,
    streamKey: stream.key,
    firstKey: stream.firstKey,
    append(event, write) {
      let json: string
      try {
        json = encoded(event)
      } catch (err) {
        return Promise.reject(err)
      }
      return takeIn(event.type, json, event.refs, write)
    },
  }

  // Checkpoints fall due with time too, and events a stopped replica took in need chaining.
  const timer = setInterval(() => {
    if (!closed) sync().catch(() => undefined)
  }, everyMs)
  timer.unref()

  return {
    kind: backend.kind,

    append(event) {
      const shaped = event && typeof event === 'object'
      if (!shaped || typeof event.type !== 'string' || typeof event.actor !== 'string') {
        return Promise.reject(new TypeError('an audit event needs a string type and actor'))
      }
      let json: string
      let stored: Record<string, unknown>
      try {
        stored = body(event, isoNow())
        json = canonicalize(stored)
      } catch (err) {
        return Promise.reject(err instanceof TypeError ? err : new TypeError(String(err)))
      }
      const refs = auditIndexRefs(stored as unknown as AuditEvent)
      return takeIn(event.type, json, refs).then(
        (seq) => ({ ...stored, seq }) as unknown as AppendedEvent,
      )
    },

    appendEncoded(event) {
      let json: string
      try {
        json = encoded(event)
      } catch (err) {
        return Promise.reject(err)
      }
      return takeIn(event.type, json, event.refs)
    },

    ...(sharedIntake ? { sharedIntake } : {}),

    async read(readOptions: AuditReadOptions = {}) {
      const fromSeq = readOptions.fromSeq ?? 1
      const limit = readOptions.limit ?? DEFAULT_READ_LIMIT
      positiveInteger('fromSeq', fromSeq)
      if (positiveInteger('limit', limit) > MAX_READ_LIMIT) {
        throw new RangeError(`limit must be at most ${MAX_READ_LIMIT}`)
      }
      await sync()
      try {
        return await compose(await backend.readBodies(fromSeq, limit))
      } catch (err) {
        throw unavailable(err)
      }
    },

    async find(query, findOptions = {}) {
      const limit = positiveInteger('limit', findOptions.limit ?? DEFAULT_FIND_LIMIT)
      await sync()
      try {
        const seqs = await backend.find(queryRef(query), limit)
        const found = await Promise.all(
          seqs.map(async (seq) => compose(await backend.readBodies(seq, 1))),
        )
        // A seq whose event was trimmed is skipped (the read then starts at a later event).
        return found.flatMap((events, i) => events.filter((e) => e.seq === seqs[i]))
      } catch (err) {
        throw unavailable(err)
      }
    },

    async head() {
      await Promise.allSettled([...intakes])
      await sync()
      // The stored head, not this writer's view: other replicas may have chained since.
      try {
        const h = await backend.loadHead()
        return { seq: h.seq, hash: h.hash, checkpointSeq: h.checkpointSeq }
      } catch (err) {
        throw unavailable(err)
      }
    },

    async checkpoint() {
      if (closed) throw auditUnavailable(new Error('the audit log is closed'))
      await Promise.allSettled([...intakes])
      let seq: number | null
      try {
        seq = await chainer.checkpoint(await backend.lastSeq())
      } catch (err) {
        throw unavailable(err)
      }
      if (seq === null) return null
      const [event] = await this.read({ fromSeq: seq, limit: 1 })
      return event?.seq === seq ? event : null
    },

    async trim(beforeSeq: number, trimOptions: AuditTrimOptions) {
      positiveInteger('beforeSeq', beforeSeq)
      const exportedTo = trimOptions.exportedTo?.trim() ?? ''
      if (exportedTo === '' || exportedTo.length > 512) {
        throw invalidRequest(
          'exported_to: say where the events were exported to (1 to 512 characters)',
        )
      }
      // The stored head: another replica may have appended since this one last wrote.
      const last = await this.head()
      // Ensure the log keeps its last event, so it stays chained to what comes next.
      if (beforeSeq > last.seq) {
        throw invalidRequest(
          `before_seq: must be at most ${last.seq}, the last event's seq (the last event is always kept)`,
        )
      }
      const [first] = await this.read({ fromSeq: 1, limit: 1 })
      if (!first || first.seq >= beforeSeq) return 0
      const exports = await this.find({ exports: true })
      // How far exports cover the log without a gap, from its first event on.
      let exportedThrough = first.seq - 1
      const ranges = exports.flatMap((e) =>
        e.type === 'audit.exported' ? [[e.from_seq, e.to_seq] as const] : [],
      )
      for (const [from, to] of ranges.sort((a, b) => a[0] - b[0])) {
        if (from <= exportedThrough + 1) exportedThrough = Math.max(exportedThrough, to)
      }
      // Ensure nothing leaves the log before it was exported.
      if (exportedThrough < beforeSeq - 1) {
        throw invalidRequest(
          `before_seq: events ${first.seq} to ${beforeSeq - 1} have not all been exported ` +
            `(exported without a gap through seq ${exportedThrough}); export them first`,
        )
      }
      const count = beforeSeq - first.seq
      // Record the trim before it happens: a trim that cannot be audited does not happen.
      const trimmed = await this.append({
        type: 'audit.trimmed',
        actor: trimOptions.actor ?? 'admin',
        before_seq: beforeSeq,
        exported_to: exportedTo,
        count,
      })
      try {
        // The trim event is chained first, so the log's last event stays chained past the trim.
        await chainer.through(trimmed.seq)
        return await backend.trimBefore(beforeSeq)
      } catch (err) {
        throw unavailable(err)
      }
    },

    async flush() {
      await Promise.allSettled([...intakes])
      await sync().catch(() => undefined)
    },

    async close() {
      if (closed) return
      closed = true
      clearInterval(timer)
      await Promise.allSettled([...intakes])
      // What cannot be chained now stays taken in; the next broker to start chains it.
      await sync().catch(() => undefined)
      chainer.stop()
      await backend.close?.()
    },
  }
}
