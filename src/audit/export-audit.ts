import type { Clock } from '../clock.js'
import type { AuditLog } from './audit-log.js'
import { SEAL_TYP, signAuditJws, type AuditSigner } from './sign-audit-jws.js'
import type { AuditActor, AuditEvent } from './types.js'

/** The last line of an export: a JWS by the broker over the range it covers. */
export interface AuditSeal {
  type: 'audit.seal'
  /** Compact JWS over `{iss, first_seq, first_prev, last_seq, last_hash, count, iat}`. */
  seal: string
}

export interface ExportAuditOptions {
  signer: AuditSigner
  issuer: string
  clock: Clock
  fromSeq?: number
  /** At most this many events (default 1000, at most 10,000). */
  limit?: number
  /**
   * Where the export goes (`http`, a file, a SIEM). When given, an `audit.exported` event is
   * appended (before the export is returned) so a later `trim` knows these events were exported.
   */
  destination?: string
  actor?: AuditActor
}

export interface AuditExport {
  events: AuditEvent[]
  /** Null when there are no events. */
  seal: AuditSeal | null
  /** Where the next export should start. */
  nextSeq: number
  /** Whether `limit` cut the export short (more events follow). */
  more: boolean
}

/**
 * Reads a range of the audit log and seals it: the seal, signed with the broker's current key,
 * names the first event (its seq and prev) and the last (its seq and hash) and the count, so
 * `verifyChain` notices events removed from either end of the export, which the chain alone
 * cannot show. As JSON Lines (one event per line, then the seal) it is what SIEMs ingest.
 *
 * @example
 * const { events, seal } = await exportAudit(log, { signer: keys, issuer, clock, fromSeq: 1 })
 * const jsonl = [...events, seal].filter(Boolean).map((e) => JSON.stringify(e)).join('\n') + '\n'
 */
export async function exportAudit(
  log: AuditLog,
  options: ExportAuditOptions,
): Promise<AuditExport> {
  const fromSeq = options.fromSeq ?? 1
  const limit = options.limit ?? 1000
  const events = await log.read({ fromSeq, limit })
  const first = events[0]
  const last = events.at(-1)
  if (!first || !last) return { events, seal: null, nextSeq: fromSeq, more: false }
  const { jws } = signAuditJws(options.signer, SEAL_TYP, {
    iss: options.issuer,
    first_seq: first.seq,
    first_prev: first.prev,
    last_seq: last.seq,
    last_hash: last.hash,
    count: events.length,
    iat: Math.floor(options.clock() / 1000),
  })
  if (options.destination !== undefined) {
    await log.append({
      type: 'audit.exported',
      actor: options.actor ?? 'admin',
      from_seq: first.seq,
      to_seq: last.seq,
      to_hash: last.hash,
      destination: options.destination,
    })
  }
  return {
    events,
    seal: { type: 'audit.seal', seal: jws },
    nextSeq: last.seq + 1,
    more: events.length === limit,
  }
}
