import { hash as digest } from 'node:crypto'
import type { Clock } from '../clock.js'
import { invalidRequest, WritError } from '../errors.js'
import { canonicalize } from '../manifest/canonicalize.js'
import type { AuditBackend, ChainedEvent, HeadState } from './audit-backend.js'
import { auditIndexRefs, queryRef } from './audit-index-refs.js'
import type { AuditLog, AuditReadOptions, AuditTrimOptions } from './audit-log.js'
import { CHECKPOINT_TYP, signAuditJws, type AuditSigner } from './sign-audit-jws.js'
import type { AuditEvent, AuditEventInput } from './types.js'

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
  /** Most events written in one batch. Default 256. */
  batchMaxEvents?: number
  /** Receives each event this process wrote, as one JSON line (the structured-log mirror). */
  mirror?: (line: string) => void
  /** Largest event accepted, as JSON. Default 256 KiB. */
  maxEventBytes?: number
}

/** How often a batch is re-chained on a head another replica moved before giving up. */
const MAX_COMMIT_ATTEMPTS = 32
const DEFAULT_READ_LIMIT = 1000
const MAX_READ_LIMIT = 10_000
const DEFAULT_FIND_LIMIT = 10_000
/** Members the log sets itself; an input's own are ignored. */
const CHAIN_FIELDS = new Set(['seq', 'time', 'prev', 'hash'])

interface Pending {
  input: AuditEventInput | null
  resolve(event: AuditEvent | null): void
  reject(err: unknown): void
}

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

/** The event as stored: the input's members that are not undefined, then the chain fields. */
function body(
  input: AuditEventInput,
  seq: number,
  time: string,
  prev: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const fields = input as unknown as Record<string, unknown>
  for (const name in fields) {
    const value = fields[name]
    if (value === undefined || !Object.hasOwn(fields, name) || CHAIN_FIELDS.has(name)) continue
    out[name] = value
  }
  out.seq = seq
  out.time = time
  out.prev = prev
  return out
}

/**
 * Builds an audit log over a backend: one writer per process that batches, chains, checkpoints
 * and retries (see {@link AuditLog}). Use `createMemoryAuditLog` or `createRedisAuditLog`.
 */
export function createAuditLog(backend: AuditBackend, options: AuditLogOptions): AuditLog {
  const { clock, signer, issuer } = options
  const everyEvents = positiveInteger(
    'checkpointEveryEvents',
    options.checkpointEveryEvents ?? 1000,
  )
  const everyMs =
    positiveInteger('checkpointEverySeconds', options.checkpointEverySeconds ?? 60) * 1000
  const batchMax = positiveInteger('batchMaxEvents', options.batchMaxEvents ?? 256)
  const maxEventBytes = positiveInteger('maxEventBytes', options.maxEventBytes ?? 256 * 1024)

  let queue: Pending[] = []
  let running: Promise<void> | null = null
  let head: HeadState | undefined
  let closed = false

  /** Chains one event on `prev`; null when it cannot be (not JSON, too large). */
  function chainOne(
    input: AuditEventInput,
    seq: number,
    time: string,
    prev: string,
  ): ChainedEvent | TypeError {
    try {
      const event = body(input, seq, time, prev)
      // What hashAuditEvent computes, with the canonical JSON kept: the stored line is that JSON
      // with `hash` appended as its last member (no second serialization on the hot path).
      const canonical = canonicalize(event)
      const hash = digest('sha256', prev + canonical, 'hex')
      event.hash = hash
      const json = `${canonical.slice(0, -1)},"hash":"${hash}"}`
      if (json.length > maxEventBytes) {
        return new TypeError(`audit event ${input.type} is larger than ${maxEventBytes} bytes`)
      }
      const chained = event as unknown as AuditEvent
      return { event: chained, json, refs: auditIndexRefs(chained) }
    } catch (err) {
      return err instanceof TypeError ? err : new TypeError(String(err))
    }
  }

  function checkpointEvent(seq: number, prev: string, nowMs: number): ChainedEvent {
    const covered = seq - 1
    const { jws, jwk } = signAuditJws(signer, CHECKPOINT_TYP, {
      iss: issuer,
      seq: covered,
      hash: prev,
      iat: Math.floor(nowMs / 1000),
    })
    const chained = chainOne(
      { type: 'audit.checkpoint', actor: 'system', checkpoint: jws, jwk },
      seq,
      new Date(nowMs).toISOString(),
      prev,
    )
    if (chained instanceof TypeError) throw chained
    return chained
  }

  /**
   * Chains a batch on `base`: the events in order, then a checkpoint when one is due. Items whose
   * event cannot be chained are left out and reported in `rejected`.
   */
  function chainBatch(base: HeadState, batch: Pending[], force: boolean) {
    const nowMs = clock()
    // Every event of a batch is appended at once: it gets the batch's time.
    const time = new Date(nowMs).toISOString()
    let seq = base.seq
    let prev = base.hash
    let checkpointSeq = base.checkpointSeq
    let checkpointTimeMs = base.checkpointTimeMs
    let checkpoint: AuditEvent | null = null
    const written: ChainedEvent[] = []
    const placed = new Map<Pending, AuditEvent>()
    const rejected = new Map<Pending, TypeError>()
    const addCheckpoint = (): void => {
      const cp = checkpointEvent(seq + 1, prev, nowMs)
      seq += 1
      prev = cp.event.hash
      written.push(cp)
      checkpoint = cp.event
      checkpointSeq = seq
      checkpointTimeMs = nowMs
    }
    for (const item of batch) {
      if (item.input === null) continue
      const chained = chainOne(item.input, seq + 1, time, prev)
      if (chained instanceof TypeError) {
        rejected.set(item, chained)
        continue
      }
      seq += 1
      prev = chained.event.hash
      written.push(chained)
      placed.set(item, chained.event)
      if (seq - checkpointSeq >= everyEvents) addCheckpoint()
    }
    const uncovered = seq > checkpointSeq
    if (uncovered && (force || nowMs - checkpointTimeMs >= everyMs)) addCheckpoint()
    const next: HeadState = { seq, hash: prev, checkpointSeq, checkpointTimeMs }
    return { written, placed, rejected, checkpoint: checkpoint as AuditEvent | null, next }
  }

  async function commitBatch(batch: Pending[]): Promise<void> {
    const force = batch.some((item) => item.input === null)
    // A checkpoint on request must see what other replicas appended: start from the stored head.
    if (force) head = await backend.loadHead()
    for (let attempt = 0; attempt < MAX_COMMIT_ATTEMPTS; attempt++) {
      const base = head ?? (head = await backend.loadHead())
      const { written, placed, rejected, checkpoint, next } = chainBatch(base, batch, force)
      for (const [item, err] of rejected) item.reject(err)
      if (written.length === 0) {
        for (const item of batch) if (!rejected.has(item)) item.resolve(null)
        return
      }
      const conflict = await backend.commit(base, written, next)
      if (conflict) {
        // Another replica appended first: re-chain the same events on its head.
        head = conflict
        continue
      }
      head = next
      if (options.mirror) {
        for (const w of written) {
          try {
            options.mirror(w.json)
          } catch {
            // The mirror is a convenience; the log itself is written.
          }
        }
      }
      for (const item of batch) {
        if (rejected.has(item)) continue
        item.resolve(item.input === null ? checkpoint : (placed.get(item) ?? null))
      }
      return
    }
    throw new Error(`the audit log head kept moving: ${MAX_COMMIT_ATTEMPTS} attempts`)
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.slice(0, batchMax)
      queue = queue.slice(batchMax)
      try {
        await commitBatch(batch)
      } catch (err) {
        // The outcome is unknown (a timeout may hide a write): forget the head, re-read it.
        head = undefined
        const failure = err instanceof WritError ? err : auditUnavailable(err)
        for (const item of batch) item.reject(failure)
      }
    }
  }

  function enqueue(input: AuditEventInput | null): Promise<AuditEvent | null> {
    if (closed) return Promise.reject(auditUnavailable(new Error('the audit log is closed')))
    return new Promise<AuditEvent | null>((resolve, reject) => {
      queue.push({ input, resolve, reject })
      kick()
    })
  }

  /** One writer per process: events arriving while a batch is written join the next batch. */
  function kick(): void {
    if (running || queue.length === 0) return
    running = Promise.resolve()
      .then(drain)
      .finally(() => {
        running = null
        // An event queued after the loop's last look but before this point still gets written.
        kick()
      })
  }

  const timer = setInterval(() => {
    if (head && head.seq > head.checkpointSeq && clock() - head.checkpointTimeMs >= everyMs) {
      enqueue(null).catch(() => undefined)
    }
  }, everyMs)
  timer.unref()

  return {
    kind: backend.kind,

    append(event) {
      const shaped = event && typeof event === 'object'
      if (!shaped || typeof event.type !== 'string' || typeof event.actor !== 'string') {
        return Promise.reject(new TypeError('an audit event needs a string type and actor'))
      }
      return enqueue(event) as Promise<AuditEvent>
    },

    async read(readOptions: AuditReadOptions = {}) {
      const fromSeq = readOptions.fromSeq ?? 1
      const limit = readOptions.limit ?? DEFAULT_READ_LIMIT
      positiveInteger('fromSeq', fromSeq)
      if (positiveInteger('limit', limit) > MAX_READ_LIMIT) {
        throw new RangeError(`limit must be at most ${MAX_READ_LIMIT}`)
      }
      return backend.read(fromSeq, limit)
    },

    async find(query, findOptions = {}) {
      const limit = positiveInteger('limit', findOptions.limit ?? DEFAULT_FIND_LIMIT)
      return backend.find(queryRef(query), limit)
    },

    async head() {
      await running
      // The stored head, not this writer's view: other replicas may have appended since.
      const h = await backend.loadHead()
      return { seq: h.seq, hash: h.hash, checkpointSeq: h.checkpointSeq }
    },

    checkpoint: () => enqueue(null),

    async trim(beforeSeq: number, trimOptions: AuditTrimOptions) {
      positiveInteger('beforeSeq', beforeSeq)
      const exportedTo = trimOptions.exportedTo?.trim() ?? ''
      if (exportedTo === '' || exportedTo.length > 512) {
        throw invalidRequest(
          'exported_to: say where the events were exported to (1 to 512 characters)',
        )
      }
      // The stored head: another replica may have appended since this one last wrote.
      const last = await backend.loadHead()
      // Ensure the log keeps its last event, so it stays chained to what comes next.
      if (beforeSeq > last.seq) {
        throw invalidRequest(
          `before_seq: must be at most ${last.seq}, the last event's seq (the last event is always kept)`,
        )
      }
      const [first] = await backend.read(1, 1)
      if (!first || first.seq >= beforeSeq) return 0
      const exports = await backend.find(queryRef({ exports: true }), DEFAULT_FIND_LIMIT)
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
      await enqueue({
        type: 'audit.trimmed',
        actor: trimOptions.actor ?? 'admin',
        before_seq: beforeSeq,
        exported_to: exportedTo,
        count,
      })
      try {
        return await backend.trimBefore(beforeSeq)
      } catch (err) {
        throw err instanceof WritError ? err : auditUnavailable(err)
      }
    },

    async flush() {
      while (running) await running
    },

    async close() {
      if (closed) return
      closed = true
      clearInterval(timer)
      while (running) await running
      await backend.close?.()
    },
  }
}
