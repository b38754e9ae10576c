import type { AuditLog } from './audit-log.js'

/**
 * The seq of the first event appended at or after `timeMs` (by the appending broker's clock), or
 * the seq after the last event when none is. A binary search over seqs: replicas' clocks differ by
 * their skew, so around `timeMs` the answer may include events a little older.
 */
export async function findSeqAtTime(log: AuditLog, timeMs: number): Promise<number> {
  const head = await log.head()
  const [oldest] = await log.read({ fromSeq: 1, limit: 1 })
  if (!oldest) return head.seq + 1
  let lo = oldest.seq
  let hi = head.seq + 1
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2)
    const [event] = await log.read({ fromSeq: mid, limit: 1 })
    if (!event) {
      hi = mid
    } else if (Date.parse(event.time) < timeMs) {
      lo = event.seq + 1
    } else {
      hi = Math.min(mid, event.seq)
    }
  }
  return lo
}
