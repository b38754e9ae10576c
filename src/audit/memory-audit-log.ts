import type { AuditBackend, ChainedEvent, HeadState } from './audit-backend.js'
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

/** The memory backend: events in seq order, index references to seqs. */
function createMemoryAuditBackend(): AuditBackend {
  const events: AuditEvent[] = []
  const index = new Map<string, number[]>()
  let head: HeadState = { seq: 0, hash: GENESIS_HASH, checkpointSeq: 0, checkpointTimeMs: 0 }

  /** Position of the first event with seq >= `seq` (events are contiguous from events[0].seq). */
  const positionOf = (seq: number): number => {
    const first = events[0]?.seq ?? seq
    return Math.max(0, seq - first)
  }

  return {
    kind: 'memory',

    loadHead: async () => ({ ...head }),

    async commit(expected: HeadState, chained: ChainedEvent[], next: HeadState) {
      // Ensure the batch was chained on the current head (compare-and-set).
      if (expected.hash !== head.hash || expected.seq !== head.seq) return { ...head }
      for (const { event, json, refs } of chained) {
        // Stored as parsed from its JSON, so readers never share objects with writers.
        events.push(JSON.parse(json) as AuditEvent)
        for (const ref of refs) {
          const list = index.get(ref)
          if (list) list.push(event.seq)
          else index.set(ref, [event.seq])
        }
      }
      head = { ...next }
      return null
    },

    async read(fromSeq: number, limit: number) {
      const start = positionOf(fromSeq)
      return events.slice(start, start + limit).map((e) => structuredClone(e))
    },

    async find(ref: string, limit: number) {
      const first = events[0]?.seq ?? Infinity
      const out: AuditEvent[] = []
      for (const seq of index.get(ref) ?? []) {
        if (seq < first) continue
        const event = events[seq - first]
        if (event) out.push(structuredClone(event))
        if (out.length >= limit) break
      }
      return out
    },

    async trimBefore(beforeSeq: number) {
      const count = Math.min(positionOf(beforeSeq), events.length)
      const removed = events.splice(0, count)
      const stale = new Set(removed.flatMap((e) => auditIndexRefs(e)))
      for (const ref of stale) {
        const kept = (index.get(ref) ?? []).filter((seq) => seq >= beforeSeq)
        if (kept.length > 0) index.set(ref, kept)
        else index.delete(ref)
      }
      return removed.length
    },
  }
}
