import type { AuditBackend, ChainStep, HeadState } from './audit-backend.js'
import { auditIndexRefs } from './audit-index-refs.js'
import type { AuditLog } from './audit-log.js'
import { createAuditLog, type AuditLogOptions } from './create-audit-log.js'
import { GENESIS_HASH, type AuditEvent } from './types.js'

/**
 * The in-memory audit log: the embedded default for a single broker process. Events live as long
 * as the process; export them (`GET /admin/audit?format=jsonl`) to keep them.
 *
 * @example
 * const audit = createMemoryAuditLog({ clock: systemClock, issuer, signer: keys })
 * await audit.append({ type: 'admin.action', actor: 'admin', method: 'POST', path: '/admin/x', status: 200 })
 */
export function createMemoryAuditLog(options: AuditLogOptions): AuditLog {
  return createAuditLog(createMemoryAuditBackend(), options)
}

/** The memory backend: bodies and hashes by seq, index references to seqs. */
function createMemoryAuditBackend(): AuditBackend {
  /** Bodies from seq `first` on; `hashes` runs parallel (undefined: not chained yet). */
  let first = 1
  const bodies: string[] = []
  const hashes: Array<string | undefined> = []
  /** The hash of the event just before `first` (kept past a trim: the next event's `prev`). */
  let hashBeforeFirst: string | undefined
  const index = new Map<string, number[]>()
  let head: HeadState = {
    seq: 0,
    hash: GENESIS_HASH,
    checkpointSeq: 0,
    coveredSeq: 0,
    checkpointTimeMs: 0,
  }

  const takeIn = (body: string): number => {
    bodies.push(body)
    hashes.push(undefined)
    return first + bodies.length - 1
  }

  return {
    kind: 'memory',

    intake: async (body) => takeIn(body),

    lastSeq: async () => first + bodies.length - 1,

    loadHead: async () => ({ ...head }),

    async chain(step: ChainStep) {
      // Ensure the step was chained on the current head (compare-and-set).
      if (step.expectedSeq !== head.seq) return { head: { ...head } }
      step.hashes.forEach((hash, i) => {
        hashes[step.firstSeq + i - first] = hash
      })
      for (const [ref, seqs] of step.index) {
        const list = index.get(ref)
        if (list) list.push(...seqs)
        else index.set(ref, [...seqs])
      }
      head = { ...step.next }
      if (step.checkpoint === undefined) return { checkpointSeq: null }
      const checkpointSeq = takeIn(step.checkpoint)
      head.checkpointSeq = checkpointSeq
      return { checkpointSeq }
    },

    async readBodies(fromSeq: number, limit: number) {
      const start = Math.max(0, fromSeq - first)
      return bodies.slice(start, start + limit).map((body, i) => ({ seq: first + start + i, body }))
    },

    async readHashes(fromSeq: number, toSeq: number) {
      const out = new Map<number, string>()
      if (hashBeforeFirst !== undefined && fromSeq <= first - 1) out.set(first - 1, hashBeforeFirst)
      for (let seq = Math.max(fromSeq, first); seq <= toSeq; seq++) {
        const hash = hashes[seq - first]
        if (hash !== undefined) out.set(seq, hash)
      }
      return out
    },

    async find(ref: string, limit: number) {
      return (index.get(ref) ?? []).filter((seq) => seq >= first).slice(0, limit)
    },

    async trimBefore(beforeSeq: number) {
      const count = Math.max(0, Math.min(beforeSeq - first, bodies.length))
      if (count === 0) return 0
      const removed = bodies.splice(0, count)
      const removedHashes = hashes.splice(0, count)
      hashBeforeFirst = removedHashes.at(-1)
      first += count
      const stale = new Set(
        removed.flatMap((body) => auditIndexRefs(JSON.parse(body) as AuditEvent)),
      )
      for (const ref of stale) {
        const kept = (index.get(ref) ?? []).filter((seq) => seq >= beforeSeq)
        if (kept.length > 0) index.set(ref, kept)
        else index.delete(ref)
      }
      return count
    },
  }
}
