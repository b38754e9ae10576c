import type { Clock } from '../clock.js'
import { canonicalize } from '../manifest/canonicalize.js'
import type { AuditBackend, ChainStep, HeadState } from './audit-backend.js'
import { auditIndexRefs } from './audit-index-refs.js'
import { chainHash } from './hash-audit-event.js'
import { CHECKPOINT_TYP, signAuditJws, type AuditSigner } from './sign-audit-jws.js'
import { GENESIS_HASH, type AuditEvent } from './types.js'

export interface ChainerOptions {
  clock: Clock
  issuer: string
  signer: AuditSigner
  /** A checkpoint at least every this many events. */
  everyEvents: number
  /** A checkpoint at least every this many milliseconds while events arrive. */
  everyMs: number
  /** How long an event taken in waits for others before its batch is chained. */
  delayMs: number
  /** Events chained at once (a full batch is chained without waiting). */
  batchMax: number
  /** Receives each event this process took in, as one JSON line, once chained. */
  mirror?: ((line: string) => void) | undefined
}

/** An event taken in that is not chained yet (this process's own, or one read back). */
interface Pending {
  seq: number
  /** Null once hashed ahead and let go (see `remember`): read back from the store if needed again. */
  body: string | null
  refs: readonly string[]
  /** Hashed ahead on `prev`: used only if the chain really reaches this event with that hash. */
  hash?: string
  prev?: string
}

type StepOutcome = 'idle' | 'chained' | 'checkpointed' | 'conflict'

/** How often a step is retried on a head another replica moved before giving up. */
const MAX_CONFLICTS = 32
/** Wait before chaining again after a failure (the events stay taken in meanwhile). */
const RETRY_MS = 1000

export interface Chainer {
  /** Notes an event this process took in; it is chained within `delayMs`. */
  taken(seq: number, body: string, refs: readonly string[]): void
  /** Chains every event taken in up to `seq` (by any replica); resolves with the head after. */
  through(seq: number): Promise<HeadState>
  /**
   * Chains what is taken in up to `seq`, then takes in a checkpoint over it (unless the last
   * chained event is one) and chains it. Resolves with the checkpoint's seq, or null.
   */
  checkpoint(seq: number): Promise<number | null>
  /** Stops the timers; what is not chained stays taken in, for the next chainer. */
  stop(): void
}

/** The stored line of a chained event: its body with the chain members appended. */
export function chainedLine(body: string, seq: number, prev: string, hash: string): string {
  return `${body.slice(0, -1)},"seq":${seq},"prev":"${prev}","hash":"${hash}"}`
}

/**
 * The chainer of one broker process. Events are taken in (stored with a seq) on the request path;
 * the chainer hashes them in seq order in batches, off that path, and writes each batch's hashes,
 * index entries and head with one compare-and-set, so replicas chaining at once never write a seq
 * twice. Events another replica took in are read back and chained too, so none is left unchained
 * when a replica stops.
 */
export function createChainer(backend: AuditBackend, options: ChainerOptions): Chainer {
  const { clock, everyEvents, everyMs } = options
  const own = new Map<number, Pending>()
  let head: HeadState | undefined
  /**
   * The last event hashed here, on the chain as this process expects it: an event taken in right
   * after it is hashed at once and its body let go, so a batch waiting to be chained holds hashes,
   * not bodies. Undefined until the head is known, and after a conflict or a failure.
   */
  let tail: { seq: number; hash: string } | undefined
  /** The chaining in progress; every run is queued behind it. */
  let queue: Promise<unknown> = Promise.resolve()
  let timer: NodeJS.Timeout | null = null
  /** Whether `timer` is the one for a full batch (due at once), not the `delayMs` one. */
  let timerNow = false
  /** A timer's run is queued and has not started yet. */
  let runQueued = false
  /**
   * Own events taken in since the last run started (every run takes all that are taken in by
   * then): the ones no run has picked up yet. A full batch of them is chained at once; events of a
   * batch being chained do not count again.
   */
  let waiting = 0
  /** The last timer's run failed: chaining waits RETRY_MS, even for a full batch. */
  let failing = false
  let stopped = false

  function checkpointBody(seq: number, hash: string, nowMs: number): string {
    const { jws, jwk } = signAuditJws(options.signer, CHECKPOINT_TYP, {
      iss: options.issuer,
      seq,
      hash,
      iat: Math.floor(nowMs / 1000),
    })
    return canonicalize({
      type: 'audit.checkpoint',
      actor: 'system',
      checkpoint: jws,
      jwk,
      time: new Date(nowMs).toISOString(),
    })
  }

  /** Keeps an event this process took in until it is chained. */
  function remember(seq: number, body: string, refs: readonly string[]): void {
    const pending: Pending = { seq, body, refs }
    if (tail && seq === tail.seq + 1) {
      // Hashed now, while the body is at hand: the batch then holds 64 characters, not the body
      // (which the mirror still needs, if there is one).
      pending.prev = tail.hash
      pending.hash = chainHash(tail.hash, seq, body)
      tail = { seq, hash: pending.hash }
      if (!options.mirror) pending.body = null
    }
    own.set(seq, pending)
  }

  /** The stored body of an own event whose body was let go (the chain did not go as expected). */
  async function readBack(e: Pending): Promise<string> {
    const [stored] = await backend.readBodies(e.seq, 1)
    if (stored?.seq !== e.seq) throw new Error(`audit event ${e.seq} is not in the log`)
    return stored.body
  }

  /** Bodies and index references of seqs `from` to `to`: this process's own, else read back. */
  async function entries(from: number, to: number): Promise<Pending[]> {
    const out: Pending[] = []
    let fetched: Map<number, string> | undefined
    for (let seq = from; seq <= to; seq++) {
      const mine = own.get(seq)
      if (mine) {
        out.push(mine)
        continue
      }
      fetched ??= new Map(
        (await backend.readBodies(seq, to - seq + 1)).map((e) => [e.seq, e.body] as const),
      )
      const body = fetched.get(seq)
      // A gap cannot be chained over: stop before it (seqs are assigned in order, so it is rare).
      if (body === undefined) break
      let refs: readonly string[] = []
      try {
        refs = auditIndexRefs(JSON.parse(body) as AuditEvent)
      } catch {
        // Not JSON: chained as stored (verification names it), listed under nothing.
      }
      out.push({ seq, body, refs })
    }
    return out
  }

  /** Forgets own events another replica chained, mirroring them first (with their stored hashes). */
  async function settleChainedElsewhere(chainedSeq: number): Promise<void> {
    const done = [...own.keys()].filter((seq) => seq <= chainedSeq).sort((a, b) => a - b)
    if (done.length === 0) return
    if (options.mirror) {
      const hashes = await backend.readHashes(Math.max(1, done[0]! - 1), done.at(-1)!)
      for (const seq of done) {
        const hash = hashes.get(seq)
        const prev = seq === 1 ? GENESIS_HASH : hashes.get(seq - 1)
        // With a mirror, bodies are kept (see `remember`).
        const body = own.get(seq)!.body
        if (hash !== undefined && prev !== undefined && body !== null) {
          mirror(chainedLine(body, seq, prev, hash))
        }
      }
    }
    for (const seq of done) own.delete(seq)
  }

  function mirror(line: string): void {
    try {
      options.mirror?.(line)
    } catch {
      // The mirror is a convenience; the log itself is written.
    }
  }

  /**
   * One step: chains from the head up to `target` (at most `batchMax` events, and no further than
   * where a checkpoint falls due), taking a checkpoint in when one is due.
   */
  async function step(target: number, forceCheckpoint: boolean): Promise<StepOutcome> {
    if (!head) {
      head = await backend.loadHead()
      tail ??= { seq: head.seq, hash: head.hash }
    }
    const base = head
    await settleChainedElsewhere(base.seq)
    const nowMs = clock()
    let to = Math.min(target, base.seq + options.batchMax)
    // Ensure a checkpoint every `everyEvents` events: cut the batch where one falls due.
    if (base.coveredSeq + everyEvents > base.seq) {
      to = Math.min(to, base.coveredSeq + everyEvents)
    }
    const batch = to > base.seq ? await entries(base.seq + 1, to) : []
    const last = batch.at(-1)
    const chainedSeq = last?.seq ?? base.seq
    // Events after the seq the last checkpoint signed (but that checkpoint alone needs no other).
    const onlyTheCheckpoint =
      chainedSeq === base.checkpointSeq && base.checkpointSeq === base.coveredSeq + 1
    const uncovered = chainedSeq > base.coveredSeq && !onlyTheCheckpoint
    const due =
      uncovered &&
      (forceCheckpoint ||
        chainedSeq - base.coveredSeq >= everyEvents ||
        nowMs - base.checkpointTimeMs >= everyMs)
    if (batch.length === 0 && !due) return 'idle'

    let prev = base.hash
    const hashes: string[] = []
    const index: ChainStep['index'] = new Map()
    for (const e of batch) {
      // Ensure a hash made ahead is used only on the prev it was made on; else hash the body.
      if (e.hash !== undefined && e.prev === prev) prev = e.hash
      else prev = chainHash(prev, e.seq, e.body ?? (await readBack(e)))
      hashes.push(prev)
      for (const ref of e.refs) {
        const seqs = index.get(ref)
        if (seqs) seqs.push(e.seq)
        else index.set(ref, [e.seq])
      }
    }
    const next: HeadState = {
      seq: chainedSeq,
      hash: prev,
      checkpointSeq: base.checkpointSeq,
      coveredSeq: due ? chainedSeq : base.coveredSeq,
      checkpointTimeMs: due ? nowMs : base.checkpointTimeMs,
    }
    const checkpoint = due ? checkpointBody(chainedSeq, prev, nowMs) : undefined
    const result = await backend.chain({
      expectedSeq: base.seq,
      next,
      firstSeq: base.seq + 1,
      hashes,
      index,
      ...(checkpoint === undefined ? {} : { checkpoint }),
    })
    if ('head' in result) {
      // Another replica chained first: go on from its head; hashes made ahead may be wrong now.
      head = result.head
      tail = undefined
      return 'conflict'
    }
    if (result.checkpointSeq !== null) next.checkpointSeq = result.checkpointSeq
    head = next
    if (!tail || tail.seq < next.seq) tail = { seq: next.seq, hash: next.hash }
    if (result.checkpointSeq !== null) remember(result.checkpointSeq, checkpoint!, [])
    let hashAt = base.hash
    for (const [i, e] of batch.entries()) {
      const hash = hashes[i]!
      if (options.mirror && own.has(e.seq) && e.body !== null) {
        mirror(chainedLine(e.body, e.seq, hashAt, hash))
      }
      own.delete(e.seq)
      hashAt = hash
    }
    return checkpoint === undefined ? 'chained' : 'checkpointed'
  }

  /** Chains through `target`; a checkpoint first when `force` (see {@link Chainer.checkpoint}). */
  async function run(target: number, force: boolean): Promise<HeadState> {
    waiting = 0
    let conflicts = 0
    let forcing = force
    // What was taken in by now; later events wait for the next run, so batches fill up.
    let goal = target
    for (const seq of own.keys()) if (seq > goal) goal = seq
    for (;;) {
      let outcome: StepOutcome
      try {
        outcome = await step(goal, forcing)
      } catch (err) {
        // The outcome is unknown (a timeout may hide a write): forget the head, re-read it.
        head = undefined
        tail = undefined
        throw err
      }
      if (outcome === 'idle') return head!
      if (outcome === 'checkpointed') {
        forcing = false
        // The checkpoint just taken in is chained in this run too.
        goal = Math.max(goal, head!.checkpointSeq)
      }
      if (outcome === 'conflict' && ++conflicts >= MAX_CONFLICTS) {
        throw new Error(`the audit chain head kept moving: ${MAX_CONFLICTS} attempts`)
      }
    }
  }

  function enqueue<T>(work: () => Promise<T>): Promise<T> {
    const done = queue.then(work, work)
    queue = done.catch(() => undefined)
    return done
  }

  function schedule(delayMs: number): void {
    if (stopped) return
    const now = delayMs === 0
    if (timer) {
      // A full batch is chained now, not when the first event's delay runs out (and a timer due
      // now already is).
      if (!now || timerNow) return
      clearTimeout(timer)
    }
    timerNow = now
    timer = setTimeout(() => {
      timer = null
      // A queued run chains whatever is taken in when it starts: one is enough.
      if (runQueued) return
      runQueued = true
      enqueue(() => {
        runQueued = false
        return run(0, false)
      }).then(
        () => {
          failing = false
        },
        () => {
          // Chaining failed (the store is away): the events stay taken in; try again later.
          failing = true
          if (own.size > 0) schedule(RETRY_MS)
        },
      )
    }, delayMs)
    timer.unref()
  }

  return {
    taken(seq, body, refs) {
      remember(seq, body, refs)
      waiting++
      // Ensure a failing store is not retried once per event: a full batch waits for the retry too.
      // A run already queued takes these events too: no second one behind it.
      schedule(waiting >= options.batchMax && !failing && !runQueued ? 0 : options.delayMs)
    },

    through: (seq) => enqueue(() => run(seq, false)),

    async checkpoint(seq) {
      return enqueue(async () => {
        const chained = await run(seq, false)
        if (chained.seq === 0 || chained.checkpointSeq === chained.seq) return null
        // Takes the checkpoint in, then chains it (it is this process's own event).
        return (await run(chained.seq, true)).checkpointSeq
      })
    },

    stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      timer = null
    },
  }
}
