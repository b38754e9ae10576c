import { calculateJwkThumbprint, compactVerify, importJWK, type JWK } from 'jose'
import { hashAuditEvent } from './hash-audit-event.js'
import { CHECKPOINT_TYP, SEAL_TYP } from './sign-audit-jws.js'
import { GENESIS_HASH } from './types.js'

export interface VerifyChainOptions {
  /**
   * The public keys trusted to sign checkpoints and seals: the broker's JWKS
   * (`/.well-known/jwks.json`, which lists current, next and previous keys), plus any older keys
   * kept by the operator. A checkpoint by a key not listed here counts only when a later
   * checkpoint or the seal, by a listed key, covers it.
   */
  keys: JWK[] | { keys: JWK[] }
  /** When given, every checkpoint and the seal must carry this `iss`. */
  issuer?: string
  /**
   * Require an export seal as the last line (default true): without one, events removed from the
   * end of an export cannot be noticed. Set false to check a live tail.
   */
  requireSeal?: boolean
}

/** The first thing wrong: a line of the input (from 1) and, when it has one, that event's seq. */
export interface ChainProblem {
  line: number
  seq?: number
  reason: string
}

export interface ChainVerification {
  /** True only when nothing is wrong. */
  ok: boolean
  /** Events read (the seal line not counted). */
  events: number
  firstSeq: number | null
  lastSeq: number | null
  lastHash: string | null
  /** Checkpoints whose signature verified. */
  checkpoints: number
  /** The last seq covered by a signature of a trusted key (checkpoint or seal); null when none. */
  anchoredThroughSeq: number | null
  /** Whether the input ended with an export seal that verified and matched (a segment per seal). */
  sealed: boolean
  problem?: ChainProblem
}

const HEX64 = /^[0-9a-f]{64}$/
const ALGORITHMS = ['ES256', 'EdDSA']

type Verified =
  | { ok: true; payload: Record<string, unknown>; trusted: boolean; kid: string }
  | { ok: false; reason: string }

const short = (hash: unknown): string =>
  typeof hash === 'string' ? `${hash.slice(0, 12)}…` : String(hash)

/**
 * Checks an exported audit log (JSON Lines, as `GET /admin/audit?format=jsonl` or `writ audit
 * export` write it): every event's hash, every link to the event before, seqs without gaps or
 * repeats, every checkpoint's signature and what it covers, and the export seal (first and last
 * event, count). Names the first bad event: editing, deleting, reordering or inserting any event,
 * and a checkpoint or seal with a wrong signature, are all detected.
 *
 * Exports fetched page by page may be concatenated: each seal covers the events since the seal
 * before it, and the chain must continue across them.
 *
 * Where an attacker re-hashed everything after an edit, the first checkpoint (or the seal) after
 * it no longer matches, and that is what is named. Never throws on bad input.
 *
 * @example
 * const jwks = await (await fetch(`${issuer}/.well-known/jwks.json`)).json()
 * const result = await verifyChain(readFileSync('audit.jsonl', 'utf8'), { keys: jwks, issuer })
 * if (!result.ok) console.error(`line ${result.problem!.line}: ${result.problem!.reason}`)
 */
export async function verifyChain(
  input: string | readonly string[],
  options: VerifyChainOptions,
): Promise<ChainVerification> {
  const lines = typeof input === 'string' ? input.split('\n') : input
  const trusted = new Map<string, JWK>()
  const given = Array.isArray(options.keys) ? options.keys : (options.keys as { keys: JWK[] }).keys
  for (const jwk of given) {
    if (typeof jwk.kid === 'string') trusted.set(jwk.kid, jwk)
  }
  const requireSeal = options.requireSeal ?? true

  let problem: ChainProblem | undefined
  const report = (p: ChainProblem): void => {
    if (!problem || p.line < problem.line) problem = p
  }

  async function verifyJws(jws: unknown, typ: string, embedded: unknown): Promise<Verified> {
    if (typeof jws !== 'string') return { ok: false, reason: 'no JWS' }
    let kid: string
    let alg: string
    try {
      const encoded = Buffer.from(jws.split('.')[0] ?? '', 'base64url').toString('utf8')
      const header = JSON.parse(encoded) as Record<string, unknown>
      if (typeof header.kid !== 'string' || typeof header.alg !== 'string') {
        return { ok: false, reason: 'no kid or alg in its header' }
      }
      kid = header.kid
      alg = header.alg
    } catch {
      return { ok: false, reason: 'not a JWS' }
    }
    let jwk = trusted.get(kid)
    const isTrusted = jwk !== undefined
    if (!jwk) {
      // Ensure an embedded key is the one its kid names (kids are RFC 7638 thumbprints).
      const candidate = embedded as JWK | undefined
      if (!candidate || typeof candidate !== 'object') {
        return { ok: false, reason: `signed by key ${kid}, which is not trusted` }
      }
      try {
        if ((await calculateJwkThumbprint(candidate, 'sha256')) !== kid) {
          return { ok: false, reason: `the embedded key is not key ${kid}` }
        }
      } catch {
        return { ok: false, reason: 'the embedded key is not a public JWK' }
      }
      jwk = candidate
    }
    try {
      // Ensure the signature verifies, with an expected algorithm and the expected `typ`.
      if (!ALGORITHMS.includes(alg)) {
        return { ok: false, reason: `algorithm ${alg} is not accepted` }
      }
      const key = await importJWK({ ...jwk, alg }, alg)
      const { payload, protectedHeader } = await compactVerify(jws, key, { algorithms: ALGORITHMS })
      if (protectedHeader.typ !== typ) {
        return { ok: false, reason: `typ is ${String(protectedHeader.typ)}, expected ${typ}` }
      }
      const claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>
      if (options.issuer !== undefined && claims.iss !== options.issuer) {
        return { ok: false, reason: `iss is ${JSON.stringify(claims.iss)}, expected ${options.issuer}` }
      }
      return { ok: true, payload: claims, trusted: isTrusted, kid }
    } catch {
      return { ok: false, reason: `the signature does not verify with key ${kid}` }
    }
  }

  // Every non-empty line, parsed once. Seals are read first, so that the first event of each sealed
  // segment can be checked against its seal before anything after it.
  const records: Array<{ line: number; value: Record<string, unknown> | null }> = []
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim()
    if (raw === '') continue
    let value: Record<string, unknown> | null = null
    try {
      const parsed: unknown = JSON.parse(raw)
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        value = parsed as Record<string, unknown>
      }
    } catch {
      value = null
    }
    records.push({ line: i + 1, value })
  }
  /** Per record: the payload of a seal that verified with a trusted key (null: it did not). */
  const seals = new Map<number, Record<string, unknown> | null>()
  for (let r = 0; r < records.length; r++) {
    const value = records[r]!.value
    if (value?.type !== 'audit.seal') continue
    const verified = await verifyJws(value.seal, SEAL_TYP, undefined)
    seals.set(r, verified.ok && verified.trusted ? verified.payload : null)
    if (!verified.ok) report({ line: records[r]!.line, reason: `export seal: ${verified.reason}` })
  }
  /** Per record: the index of the seal that closes its segment, if any. */
  const closingSeal: Array<number | undefined> = []
  {
    let next: number | undefined
    for (let r = records.length - 1; r >= 0; r--) {
      if (seals.has(r)) next = r
      closingSeal[r] = next
    }
  }

  let count = 0
  let checkpoints = 0
  let anchored: number | null = null
  let first: { seq: number; line: number } | undefined
  let previous: { seq: number; hash: string; line: number } | undefined
  /** The current segment (events since the last seal): its first event and size. */
  let segment: { seq: number; line: number; count: number } | undefined
  let pending: Array<{ line: number; seq: number; kid: string }> = []
  /** Hashes of the events since the last checkpoint's covered seq: what the next one may cover. */
  const recent = new Map<number, string>()
  let coveredThrough = 0
  let broken = false

  for (let r = 0; r < records.length && !broken; r++) {
    const { line, value } = records[r]!
    const fail = (reason: string, seq?: number): void => {
      report({ line, ...(seq === undefined ? {} : { seq }), reason })
      broken = true
    }
    if (!value) {
      fail('not a JSON object')
      break
    }
    if (seals.has(r)) {
      const payload = seals.get(r)
      // Ensure the segment ends where its seal says: nothing removed from (or added to) its end.
      if (payload && (!segment || !previous)) {
        if (payload.count !== 0) {
          fail(`the seal covers ${String(payload.count)} events, but none precede it`)
        }
      } else if (payload && segment && previous) {
        if (payload.last_seq !== previous.seq || payload.count !== segment.count) {
          fail(
            `the export ends at seq ${previous.seq} with ${segment.count} events, but its seal covers ${String(payload.count)} events through seq ${String(payload.last_seq)}: events were removed from the end, or added`,
          )
        } else if (payload.last_hash !== previous.hash) {
          report({
            line: previous.line,
            seq: previous.seq,
            reason: 'its hash is not the one the export seal signed: the last event was altered and re-hashed, or replaced',
          })
          broken = true
        } else {
          anchored = previous.seq
          pending = []
        }
      }
      segment = undefined
      continue
    }

    const { seq, prev, hash, type } = value
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
      fail('seq: expected a positive integer')
      break
    }
    const hexes = typeof prev === 'string' && typeof hash === 'string'
    if (!hexes || !HEX64.test(prev) || !HEX64.test(hash)) {
      fail('prev and hash: expected 64 lowercase hex characters', seq)
      break
    }
    if (typeof type !== 'string' || typeof value.time !== 'string') {
      fail('type and time: expected strings', seq)
      break
    }

    if (!segment) {
      segment = { seq, line, count: 0 }
      // Ensure the segment starts where its seal says: nothing removed from (or added to) its start.
      const sealAt = closingSeal[r]
      const payload = sealAt === undefined ? undefined : seals.get(sealAt)
      if (payload && (payload.first_seq !== seq || payload.first_prev !== prev)) {
        fail(
          `the export starts at seq ${seq}, but its seal says it starts at seq ${String(payload.first_seq)}: events were removed from the start, or added`,
          seq,
        )
        break
      }
    }
    if (previous) {
      // Ensure seqs follow each other: a gap is a deletion, a step back an insertion or a move.
      if (seq !== previous.seq + 1) {
        const expected = previous.seq + 1
        const what =
          seq > expected
            ? `event(s) ${expected}${seq > expected + 1 ? ` to ${seq - 1}` : ''} missing`
            : 'an event was inserted, repeated or moved here'
        const after = `after seq ${previous.seq} (line ${previous.line})`
        fail(`expected seq ${expected} ${after}, found seq ${seq}: ${what}`, seq)
        break
      }
    } else {
      first = { seq, line }
      if (seq === 1 && prev !== GENESIS_HASH) {
        fail('the first event of the log (seq 1) must have prev = 64 zeros', seq)
        break
      }
    }

    // Ensure the event is exactly what was hashed when it was appended.
    let computed: string
    try {
      computed = hashAuditEvent(value as { seq: number; prev: string })
    } catch (err) {
      fail(`cannot be hashed: ${err instanceof Error ? err.message : String(err)}`, seq)
      break
    }
    if (computed !== hash) {
      fail('its hash does not match its content: the event was altered', seq)
      break
    }
    // Ensure it links to the event before: otherwise that one was altered and re-hashed, or replaced.
    if (previous && prev !== previous.hash) {
      report({
        line: previous.line,
        seq: previous.seq,
        reason: `the next event (seq ${seq}, line ${line}) links to hash ${short(prev)}, not to this event's ${short(previous.hash)}: this event was altered and re-hashed, or replaced`,
      })
      broken = true
      break
    }

    if (type === 'audit.checkpoint') {
      const verified = await verifyJws(value.checkpoint, CHECKPOINT_TYP, value.jwk)
      if (!verified.ok) {
        fail(`checkpoint: ${verified.reason}`, seq)
        break
      }
      // Ensure the checkpoint was signed over the chain as it is: the event it names (an earlier
      // one: events taken in while it was written may lie between) has the hash it signed.
      const covered = verified.payload.seq
      if (typeof covered !== 'number' || !Number.isSafeInteger(covered) || covered >= seq) {
        fail(`checkpoint: signed over seq ${String(covered)}, which is not an event before it`, seq)
        break
      }
      if (covered < coveredThrough) {
        fail(
          `checkpoint: signed over seq ${covered}, before seq ${coveredThrough} that an earlier checkpoint covered`,
          seq,
        )
        break
      }
      checkpoints++
      // A checkpoint over an event before this input (an export from a later seq) checks nothing here.
      if (first && covered >= first.seq) {
        const actual = recent.get(covered)
        if (actual !== verified.payload.hash) {
          fail(
            `checkpoint: signed over seq ${covered} with hash ${short(verified.payload.hash)}, but seq ${covered} has hash ${short(actual)}: events up to seq ${covered} were altered (and re-hashed) after it was signed`,
            seq,
          )
          break
        }
        for (let s = coveredThrough; s < covered; s++) recent.delete(s)
        coveredThrough = covered
        if (verified.trusted) {
          anchored = covered
          pending = pending.filter((p) => p.seq > covered)
        }
      }
      if (!verified.trusted) pending.push({ line, seq, kid: verified.kid })
    }

    recent.set(seq, hash)
    count++
    segment.count++
    previous = { seq, hash, line }
  }

  const lastRecord = records.length - 1
  const sealed =
    !broken &&
    previous !== undefined &&
    seals.get(lastRecord) != null &&
    anchored === previous.seq
  if (!broken) {
    if (segment && requireSeal) {
      report({
        line: (records[lastRecord]?.line ?? 0) + 1,
        reason: 'no export seal after the last event: events removed from the end could not be noticed',
      })
    }
    const untrusted = pending[0]
    if (untrusted) {
      report({
        line: untrusted.line,
        seq: untrusted.seq,
        reason: `checkpoint: signed by key ${untrusted.kid}, which is not trusted, and no later signature by a trusted key covers it`,
      })
    }
  }

  return {
    ok: problem === undefined,
    events: count,
    firstSeq: first?.seq ?? null,
    lastSeq: previous?.seq ?? null,
    lastHash: previous?.hash ?? null,
    checkpoints,
    anchoredThroughSeq: anchored,
    sealed,
    ...(problem ? { problem } : {}),
  }
}
