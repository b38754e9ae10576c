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

/** The first thing wrong, as a line of the input (from 1) and, when it has one, that event's seq. */
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
  /** Whether the input ended with a valid export seal. */
  sealed: boolean
  problem?: ChainProblem
}

const HEX64 = /^[0-9a-f]{64}$/
const ALGORITHMS = ['ES256', 'EdDSA']

type Verified = { ok: true; payload: Record<string, unknown>; trusted: boolean; kid: string } | { ok: false; reason: string }

const short = (hash: unknown): string => (typeof hash === 'string' ? `${hash.slice(0, 12)}…` : String(hash))

/**
 * Checks an exported audit log (JSON Lines, as `GET /admin/audit?format=jsonl` or `writ audit
 * export` write it): every event's hash, every link to the event before, seqs without gaps or
 * repeats, every checkpoint's signature and what it covers, and the export seal (first and last
 * event, count). Names the first bad event: editing, deleting, reordering or inserting any event,
 * and a checkpoint or seal with a wrong signature, are all detected.
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
  for (const jwk of Array.isArray(options.keys) ? options.keys : (options.keys as { keys: JWK[] }).keys) {
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
      const header = JSON.parse(Buffer.from(jws.split('.')[0] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
      if (typeof header.kid !== 'string' || typeof header.alg !== 'string') return { ok: false, reason: 'no kid or alg in its header' }
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
      if (!candidate || typeof candidate !== 'object') return { ok: false, reason: `signed by key ${kid}, which is not trusted` }
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
      if (!ALGORITHMS.includes(alg)) return { ok: false, reason: `algorithm ${alg} is not accepted` }
      const key = await importJWK({ ...jwk, alg }, alg)
      const { payload, protectedHeader } = await compactVerify(jws, key, { algorithms: ALGORITHMS })
      if (protectedHeader.typ !== typ) return { ok: false, reason: `typ is ${String(protectedHeader.typ)}, expected ${typ}` }
      const claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>
      if (options.issuer !== undefined && claims.iss !== options.issuer) {
        return { ok: false, reason: `iss is ${JSON.stringify(claims.iss)}, expected ${options.issuer}` }
      }
      return { ok: true, payload: claims, trusted: isTrusted, kid }
    } catch {
      return { ok: false, reason: `the signature does not verify with key ${kid}` }
    }
  }

  // The seal, if any, is the last non-empty line: read it first, so the first event can be checked against it.
  let lastLine = lines.length - 1
  while (lastLine >= 0 && lines[lastLine]!.trim() === '') lastLine--
  let seal: { line: number; payload: Record<string, unknown> | null } | undefined
  {
    let value: unknown
    try {
      value = lastLine >= 0 ? JSON.parse(lines[lastLine]!) : undefined
    } catch {
      value = undefined
    }
    if (value && typeof value === 'object' && (value as { type?: unknown }).type === 'audit.seal') {
      const verified = await verifyJws((value as { seal?: unknown }).seal, SEAL_TYP, undefined)
      seal = { line: lastLine + 1, payload: verified.ok && verified.trusted ? verified.payload : null }
      if (!verified.ok) report({ line: lastLine + 1, reason: `export seal: ${verified.reason}` })
    }
  }
  const eventLines = seal ? lastLine : lastLine + 1

  let count = 0
  let checkpoints = 0
  let anchored: number | null = null
  let first: { seq: number; prev: string; line: number } | undefined
  let previous: { seq: number; hash: string; line: number } | undefined
  const pending: Array<{ line: number; seq: number; kid: string }> = []
  let broken = false

  for (let i = 0; i < eventLines && !broken; i++) {
    const raw = lines[i]!.trim()
    if (raw === '') continue
    const line = i + 1
    const fail = (reason: string, seq?: number): void => {
      report({ line, ...(seq === undefined ? {} : { seq }), reason })
      broken = true
    }
    let value: Record<string, unknown>
    try {
      const parsed: unknown = JSON.parse(raw)
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object')
      value = parsed as Record<string, unknown>
    } catch {
      fail('not a JSON object')
      break
    }
    if (value.type === 'audit.seal') {
      fail('an export seal that is not the last line')
      break
    }
    const { seq, prev, hash, type } = value
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) {
      fail('seq: expected a positive integer')
      break
    }
    if (typeof prev !== 'string' || !HEX64.test(prev) || typeof hash !== 'string' || !HEX64.test(hash)) {
      fail('prev and hash: expected 64 lowercase hex characters', seq)
      break
    }
    if (typeof type !== 'string' || typeof value.time !== 'string') {
      fail('type and time: expected strings', seq)
      break
    }

    if (previous) {
      // Ensure seqs follow each other: a gap is a deletion, a step back an insertion or a move.
      if (seq !== previous.seq + 1) {
        const what =
          seq > previous.seq + 1
            ? `event(s) ${previous.seq + 1}${seq > previous.seq + 2 ? ` to ${seq - 1}` : ''} missing`
            : 'an event was inserted, repeated or moved here'
        fail(`expected seq ${previous.seq + 1} after seq ${previous.seq} (line ${previous.line}), found seq ${seq}: ${what}`, seq)
        break
      }
    } else {
      first = { seq, prev, line }
      if (seq === 1 && prev !== GENESIS_HASH) {
        fail('the first event of the log (seq 1) must have prev = 64 zeros', seq)
        break
      }
      // Ensure the export starts where its seal says: nothing removed from (or added to) the start.
      if (seal?.payload && (seal.payload.first_seq !== seq || seal.payload.first_prev !== prev)) {
        fail(`the export starts at seq ${seq}, but its seal says it starts at seq ${String(seal.payload.first_seq)}: events were removed from the start, or added`, seq)
        break
      }
    }

    // Ensure the event is exactly what was hashed when it was appended.
    let computed: string
    try {
      computed = hashAuditEvent(value as { prev: string })
    } catch (err) {
      fail(`cannot be hashed: ${err instanceof Error ? err.message : String(err)}`, seq)
      break
    }
    if (computed !== hash) {
      fail(`its hash does not match its content: the event was altered`, seq)
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
      // Ensure the checkpoint was signed over exactly the chain before it.
      if (verified.payload.seq !== seq - 1 || verified.payload.hash !== prev) {
        fail(
          `checkpoint: signed over seq ${String(verified.payload.seq)} with hash ${short(verified.payload.hash)}, but the event before it is seq ${seq - 1} with hash ${short(prev)}: events before this checkpoint were altered (and re-hashed) after it was signed`,
          seq,
        )
        break
      }
      checkpoints++
      if (verified.trusted) {
        anchored = seq - 1
        pending.length = 0
      } else {
        pending.push({ line, seq, kid: verified.kid })
      }
    }

    count++
    previous = { seq, hash, line }
  }

  let sealed = false
  if (!broken) {
    if (seal) {
      if (seal.payload) {
        const p = seal.payload
        // Ensure the export ends where its seal says: nothing removed from (or added to) the end.
        if (!previous) {
          if (p.count !== 0) report({ line: seal.line, reason: `the seal covers ${String(p.count)} events, but the export has none` })
        } else if (p.last_seq !== previous.seq || p.count !== count) {
          report({
            line: seal.line,
            reason: `the export ends at seq ${previous.seq} with ${count} events, but its seal covers ${String(p.count)} events through seq ${String(p.last_seq)}: events were removed from the end, or added`,
          })
        } else if (p.last_hash !== previous.hash) {
          report({
            line: previous.line,
            seq: previous.seq,
            reason: 'its hash is not the one the export seal signed: the last event was altered and re-hashed, or replaced',
          })
        } else {
          sealed = true
          anchored = previous.seq
          pending.length = 0
        }
      } else if (!problem) {
        report({ line: seal.line, reason: 'export seal: signed by a key that is not trusted' })
      }
    } else if (requireSeal) {
      report({
        line: eventLines + 1,
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
