import type { Clock } from '../clock.js'
import { WritError } from '../errors.js'
import type { AuditLog } from './audit-log.js'
import { SEAL_TYP, signAuditJws, type AuditSigner } from './sign-audit-jws.js'
import type { AuditActor, AuditEvent } from './types.js'
import { verifyChain, type ChainProblem } from './verify-chain.js'

/**
 * The log does not verify against the broker's own keys (a store writer rewrote it): no seal is
 * made over it. `problem` names the first bad event.
 */
export class AuditChainBrokenError extends WritError {
  constructor(readonly problem: ChainProblem) {
    super(
      'server_error',
      500,
      `the audit log does not verify, so the broker will not seal an export of it: line ${problem.line} of the page${problem.seq === undefined ? '' : ` (seq ${problem.seq})`}: ${problem.reason}`,
    )
  }

  /** Shown to the admin: what is wrong with the log is what they must act on. */
  override get expose(): boolean {
    return true
  }
}

/** The last line of an export: a JWS by the broker over the range it covers. */
export interface AuditSeal {
  type: 'audit.seal'
  /**
   * Compact JWS over `{iss, first_seq, first_prev, last_seq, last_hash, count, iat, last,
   * from_start, prev_seal?}`: `last` when no events followed the page, `from_start` when the export
   * starts where the log starts (seq 1, or the first event kept after a trim), `prev_seal` the
   * base64url SHA-256 of the previous page's seal JWS (absent on an export's first page).
   */
  seal: string
}

export interface ExportAuditOptions {
  signer: AuditSigner
  issuer: string
  clock: Clock
  fromSeq?: number
  /** The export starts at the start of the log (no `since` was asked for). */
  fromStart?: boolean
  /** `sealDigest` of the previous page's seal, when this page continues an export. */
  prevSeal?: string
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
 * names the first event (its seq and prev) and the last (its seq and hash) and the count, the
 * previous page's seal and whether this is the last page, so `verifyChain` notices events or pages
 * removed from either end of the export, which the chain alone cannot show. As JSON Lines (one
 * event per line, then the seal) it is what SIEMs ingest.
 *
 * The page is verified first against the broker's own keys (its key set, and the key history its
 * signed `key.rotated` events record): a log rewritten in the store is never sealed.
 *
 * @throws AuditChainBrokenError when the page does not verify.
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
  // Whether this is the last page: a full page is, unless an event follows it.
  const more =
    events.length === limit && (await log.read({ fromSeq: last.seq + 1, limit: 1 })).length > 0
  // The key history around the page: its checkpoints may be signed by keys rotated out since.
  const history = (await log.find({ keyRotations: true }, { limit: 10_000 })).filter(
    (e) => e.seq < first.seq || e.seq > last.seq,
  )
  // Ensure the log verifies against the broker's own keys before the broker vouches for it.
  const check = await verifyChain(
    events.map((e) => JSON.stringify(e)),
    {
      keys: options.signer.jwks(),
      keysSource: "in the broker's key set",
      issuer: options.issuer,
      requireSeal: false,
      history: history as unknown as ReadonlyArray<Record<string, unknown>>,
    },
  )
  if (!check.ok) throw new AuditChainBrokenError(check.problem!)
  const { jws } = signAuditJws(options.signer, SEAL_TYP, {
    iss: options.issuer,
    first_seq: first.seq,
    first_prev: first.prev,
    last_seq: last.seq,
    last_hash: last.hash,
    count: events.length,
    iat: Math.floor(options.clock() / 1000),
    last: !more,
    from_start: options.fromStart === true,
    ...(options.prevSeal === undefined ? {} : { prev_seal: options.prevSeal }),
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
    more,
  }
}
