import { createHash } from 'node:crypto'
import { calculateJwkThumbprint, compactVerify, importJWK, type JWK } from 'jose'
import { hashAuditEvent } from './hash-audit-event.js'
import { CHECKPOINT_TYP, KEY_TYP, SEAL_TYP } from './sign-audit-jws.js'
import { GENESIS_HASH } from './types.js'

export interface VerifyChainOptions {
  /**
   * The public keys the auditor trusts to sign checkpoints and seals: the broker's JWKS
   * (`/.well-known/jwks.json`, which lists current, next and previous keys), plus any older keys
   * the auditor kept. Other keys are trusted only through the chain's own `key.rotated` events: a
   * handover signed by a trusted key trusts its successor, an announcement signed by a trusted key
   * trusts its predecessor (for a compromised key, only what it signed before that event). A
   * checkpoint by any other key fails, whatever signs after it: an embedded key vouches for
   * nothing.
   */
  keys: JWK[] | { keys: JWK[] }
  /** Why `keys` are trusted, as {@link TrustedKey.why} reports it. Default: "in the trusted key set". */
  keysSource?: string
  /** When given, every checkpoint and the seal must carry this `iss`. */
  issuer?: string
  /**
   * Require an export seal as the last line (default true): without one, events removed from the
   * end of an export cannot be noticed. Set false to check a live tail.
   */
  requireSeal?: boolean
  /**
   * The end of an earlier export (its `lastSeq` and `lastHash`, from its own verification) that
   * this one must continue: the first event after `lastSeq` must link to `lastHash`, and an event
   * at `lastSeq` here must have that hash. A gap between the two is refused.
   */
  after?: { lastSeq: number; lastHash: string }
  /**
   * `key.rotated` events from outside this input (the broker's own log, read through its index),
   * to follow the key history through: a page exported from the middle of the log holds
   * checkpoints by keys whose rotations it does not hold. They pass trust on only through their
   * signed statements (a key in them vouches for nothing by itself), as if they stood before the
   * first line (a lower seq) or after the last.
   */
  history?: ReadonlyArray<Record<string, unknown>>
}

/** The first thing wrong: a line of the input (from 1) and, when it has one, that event's seq. */
export interface ChainProblem {
  line: number
  seq?: number
  reason: string
}

/** A key the verification trusted, why, and what it was found to sign. */
export interface TrustedKey {
  kid: string
  /** "in the trusted key set", or the `key.rotated` event that vouched for it. */
  why: string
  checkpoints: number
  seals: number
}

export interface ChainVerification {
  /** True only when nothing is wrong. */
  ok: boolean
  /** Events read (the seal lines not counted). */
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
  /** Export pages (seals) read. */
  pages: number
  /** Whether the last seal says no events followed when it was made (the export's last page). */
  complete: boolean
  /** What the first event is anchored at: the log's start, a trim point, an earlier export, or nothing. */
  anchor: string | null
  /** Every key trusted, and why; each with what it signed here. */
  keys: TrustedKey[]
  /** The public JWKs of the trusted keys that are known (to carry trust into a later export). */
  trustedJwks: JWK[]
  problem?: ChainProblem
}

const HEX64 = /^[0-9a-f]{64}$/
const ALGORITHMS = ['ES256', 'EdDSA']

type Verified =
  | { ok: true; payload: Record<string, unknown>; kid: string }
  | { ok: false; reason: string }

interface Rotation {
  line: number
  seq: unknown
  kid: string
  previous: string
  compromised: boolean
  announcement: unknown
  handover: unknown
}

const short = (hash: unknown): string =>
  typeof hash === 'string' ? `${hash.slice(0, 12)}…` : String(hash)

/** base64url SHA-256 of a seal's JWS: what the next page's seal names as `prev_seal`. */
export function sealDigest(jws: string): string {
  return createHash('sha256').update(jws).digest('base64url')
}

/**
 * Checks an exported audit log (JSON Lines, as `GET /admin/audit?format=jsonl` or `writ audit
 * export` write it): every event's hash, every link to the event before, seqs without gaps or
 * repeats, every checkpoint's signature (by a trusted key, see {@link VerifyChainOptions.keys}) and
 * what it covers, and the export seals (first and last event, count, the page before, whether it
 * is the last page). Names the first bad event: editing, deleting, reordering or inserting any
 * event, re-signing checkpoints with another key, a checkpoint or seal with a wrong signature, and
 * a first or last page cut off, are all detected.
 *
 * Exports fetched page by page are concatenated: each seal covers the events since the seal before
 * it and names that seal, the first page's seal says whether the export starts at the start of the
 * log, and the last one says it is the last. Every loop is bounded by the input's size. Never
 * throws on bad input.
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
  const given = Array.isArray(options.keys) ? options.keys : (options.keys as { keys: JWK[] }).keys
  /** Public keys by kid: the given ones, and embedded ones whose thumbprint is their kid. */
  const jwks = new Map<string, JWK>()
  const trusted = new Map<string, TrustedKey>()
  for (const jwk of given) {
    if (typeof jwk?.kid !== 'string') continue
    jwks.set(jwk.kid, jwk)
    trusted.set(jwk.kid, {
      kid: jwk.kid,
      why: options.keysSource ?? 'in the trusted key set',
      checkpoints: 0,
      seals: 0,
    })
  }
  /** Keys a trusted key declared compromised, and where: nothing they sign after it counts. */
  const compromisedAt = new Map<string, { line: number; seq: unknown; by: string }>()
  const requireSeal = options.requireSeal ?? true

  let problem: ChainProblem | undefined
  const report = (p: ChainProblem): void => {
    if (!problem || p.line < problem.line) problem = p
  }

  /** Learns an embedded public key: kept only under its own RFC 7638 thumbprint. */
  async function learn(candidate: unknown): Promise<void> {
    if (!candidate || typeof candidate !== 'object') return
    const jwk = candidate as JWK
    if (typeof jwk.kid !== 'string' || jwks.has(jwk.kid)) return
    try {
      // Ensure an embedded key is the one its kid names (kids are RFC 7638 thumbprints).
      if ((await calculateJwkThumbprint(jwk, 'sha256')) === jwk.kid) jwks.set(jwk.kid, jwk)
    } catch {
      // Not a public JWK: a checkpoint that needs it is named below.
    }
  }

  function headerOf(jws: string): { kid: string; alg: string } | string {
    try {
      const encoded = Buffer.from(jws.split('.')[0] ?? '', 'base64url').toString('utf8')
      const header = JSON.parse(encoded) as Record<string, unknown>
      if (typeof header.kid !== 'string' || typeof header.alg !== 'string') {
        return 'no kid or alg in its header'
      }
      return { kid: header.kid, alg: header.alg }
    } catch {
      return 'not a JWS'
    }
  }

  /** Verifies a JWS by one key (trusted or not: the caller decides), with the expected `typ`. */
  async function verifyBy(jws: string, jwk: JWK, alg: string, typ: string, kid: string): Promise<Verified> {
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
      if (!claims || typeof claims !== 'object') return { ok: false, reason: 'its payload is not an object' }
      return { ok: true, payload: claims, kid }
    } catch {
      return { ok: false, reason: `the signature does not verify with key ${kid}` }
    }
  }

  /** Verifies a checkpoint or seal: only a trusted key counts, whatever key is embedded. */
  async function verifyJws(jws: unknown, typ: string): Promise<Verified> {
    if (typeof jws !== 'string') return { ok: false, reason: 'no JWS' }
    const header = headerOf(jws)
    if (typeof header === 'string') return { ok: false, reason: header }
    const { kid, alg } = header
    // Ensure the signer is one of the broker's keys: given, or vouched for in the chain by one.
    const jwk = jwks.get(kid)
    if (!trusted.has(kid)) {
      return {
        ok: false,
        reason: `signed by key ${kid}, which is not trusted: it is not in the trusted key set, and no key.rotated event signed by a trusted key vouches for it`,
      }
    }
    if (!jwk) return { ok: false, reason: `signed by key ${kid}, whose public key is not known` }
    const verified = await verifyBy(jws, jwk, alg, typ, kid)
    if (verified.ok && options.issuer !== undefined && verified.payload.iss !== options.issuer) {
      return {
        ok: false,
        reason: `iss is ${JSON.stringify(verified.payload.iss)}, expected ${options.issuer}`,
      }
    }
    return verified
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

  // The broker's key history: embedded keys (known, not trusted), then the trust the key.rotated
  // events pass on from the given keys, each rotation looked at once per key it names.
  const byNew = new Map<string, Rotation[]>()
  const byOld = new Map<string, Rotation[]>()
  // History from outside the input stands before its first line or after its last, by seq.
  const firstSeq = records.find((r) => typeof r.value?.seq === 'number')?.value?.seq as number | undefined
  const outside = (options.history ?? []).map((value) => ({
    line: typeof value.seq === 'number' && firstSeq !== undefined && value.seq < firstSeq ? 0 : lines.length + 1,
    value,
  }))
  for (const { line, value } of [...outside, ...records]) {
    if (value?.type === 'audit.checkpoint') await learn(value.jwk)
    if (value?.type !== 'key.rotated') continue
    await learn(value.jwk)
    if (typeof value.kid !== 'string' || typeof value.previous_kid !== 'string') continue
    const rotation: Rotation = {
      line,
      seq: value.seq,
      kid: value.kid,
      previous: value.previous_kid,
      compromised: value.compromised === true,
      announcement: value.announcement,
      handover: value.handover,
    }
    byNew.set(rotation.kid, [...(byNew.get(rotation.kid) ?? []), rotation])
    byOld.set(rotation.previous, [...(byOld.get(rotation.previous) ?? []), rotation])
  }
  /** Whether `jws` is `signer`'s statement about exactly this rotation. */
  const states = async (jws: unknown, signer: string, r: Rotation): Promise<boolean> => {
    const jwk = jwks.get(signer)
    if (typeof jws !== 'string' || !jwk) return false
    const header = headerOf(jws)
    if (typeof header === 'string' || header.kid !== signer) return false
    const verified = await verifyBy(jws, jwk, header.alg, KEY_TYP, signer)
    return (
      verified.ok &&
      verified.payload.kid === r.kid &&
      verified.payload.previous_kid === r.previous &&
      verified.payload.compromised === r.compromised
    )
  }
  const where = (r: Rotation): string => `the key.rotated event at seq ${String(r.seq)} (line ${r.line})`
  const work = [...trusted.keys()]
  while (work.length > 0) {
    const kid = work.pop()!
    const trust = (other: string, why: string): void => {
      if (trusted.has(other)) return
      trusted.set(other, { kid: other, why, checkpoints: 0, seals: 0 })
      work.push(other)
    }
    for (const r of byNew.get(kid) ?? []) {
      if (!(await states(r.announcement, kid, r))) continue
      if (r.compromised) {
        // Ensure nothing the stolen key signs after its rotation counts; what it signed before
        // was the broker's (an auditor's earlier export, with --after, pins that history down).
        const known = compromisedAt.get(r.previous)
        if (!known || r.line < known.line) compromisedAt.set(r.previous, { line: r.line, seq: r.seq, by: kid })
        trust(r.previous, `named as its predecessor by trusted key ${kid} in ${where(r)}, which declared it compromised: trusted only before that event`)
      } else {
        trust(r.previous, `named as its predecessor by trusted key ${kid} in ${where(r)}`)
      }
    }
    for (const r of byOld.get(kid) ?? []) {
      if (r.compromised || !(await states(r.handover, kid, r))) continue
      trust(r.kid, `handed over to by trusted key ${kid} in ${where(r)}`)
    }
  }

  /** Per record: the payload of a seal that verified with a trusted key (null: it did not). */
  const seals = new Map<number, Record<string, unknown> | null>()
  for (let r = 0; r < records.length; r++) {
    const value = records[r]!.value
    if (value?.type !== 'audit.seal') continue
    const verified = await verifyJws(value.seal, SEAL_TYP)
    seals.set(r, verified.ok ? verified.payload : null)
    if (verified.ok) trusted.get(verified.kid)!.seals++
    else report({ line: records[r]!.line, reason: `export seal: ${verified.reason}` })
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

  // Ensure the pages follow each other: each seal names the one before it unless it starts an
  // export, and nothing is cut off before the first page or after the last one.
  let anchor: string | null = null
  let complete = false
  {
    let before: { payload: Record<string, unknown>; digest: string } | undefined
    let pageStart = 0
    for (let r = 0; r < records.length; r++) {
      if (!seals.has(r)) continue
      const payload = seals.get(r)
      const jws = records[r]!.value!.seal as string
      const firstLine = records[pageStart]?.line ?? records[r]!.line
      pageStart = r + 1
      if (!payload) {
        before = undefined
        continue
      }
      // Seals from before pages were chained carry no `last`: their pages prove only their range.
      if (typeof payload.last === 'boolean') {
        const continues = before !== undefined && before.payload.last === false
        if (continues && payload.prev_seal !== before!.digest) {
          report({
            line: firstLine,
            reason: `this page's seal does not name the seal of the page before it: pages of the export were removed, reordered or mixed`,
          })
        } else if (!continues && payload.prev_seal !== undefined) {
          report({
            line: firstLine,
            reason: `the page before this one is missing: its seal continues an earlier page of the same export (the first page was cut off)`,
          })
        } else if (!continues && anchor === null && r === closingSeal[0]) {
          const first = payload.first_seq
          anchor =
            payload.from_start === true
              ? first === 1
                ? 'seq 1, the start of the log'
                : `seq ${String(first)}, the start of the log after a trim (as the broker signed it)`
              : `seq ${String(first)}, an export from --since (nothing proves what came before)`
        }
        complete = payload.last === true
      } else {
        complete = false
      }
      before = { payload, digest: sealDigest(jws) }
    }
    if (requireSeal && before?.payload.last === false) {
      report({
        line: (records.at(-1)?.line ?? 0) + 1,
        reason: `the last page of the export is missing: the final seal says more events followed seq ${String(before.payload.last_seq)}`,
      })
    }
  }

  let count = 0
  let checkpoints = 0
  let anchored: number | null = null
  let first: { seq: number; line: number } | undefined
  let previous: { seq: number; hash: string; line: number } | undefined
  /** The current segment (events since the last seal): its first event and size. */
  let segment: { seq: number; line: number; count: number } | undefined
  /** Hashes of the events since the last checkpoint's covered seq: what the next one may cover. */
  const recent = new Map<number, string>()
  let coveredThrough = 0
  let broken = false
  const after = options.after

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
        const at = `after seq ${previous.seq} (line ${previous.line})`
        fail(`expected seq ${expected} ${at}, found seq ${seq}: ${what}`, seq)
        break
      }
    } else {
      first = { seq, line }
      if (seq === 1 && prev !== GENESIS_HASH) {
        fail('the first event of the log (seq 1) must have prev = 64 zeros', seq)
        break
      }
      // Ensure this export continues the earlier one: no gap between them.
      if (after && seq > after.lastSeq + 1) {
        fail(
          `the earlier export ends at seq ${after.lastSeq} but this one starts at seq ${seq}: event(s) ${after.lastSeq + 1}${seq > after.lastSeq + 2 ? ` to ${seq - 1}` : ''} are in neither (a gap)`,
          seq,
        )
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
    // Ensure where the two exports overlap, they hold the same chain.
    if (after && seq === after.lastSeq && hash !== after.lastHash) {
      fail(
        `the earlier export ends at seq ${seq} with hash ${short(after.lastHash)}, but here seq ${seq} has hash ${short(hash)}: the two exports disagree where they overlap`,
        seq,
      )
      break
    }
    if (after && seq === after.lastSeq + 1 && prev !== after.lastHash) {
      fail(
        `it links to hash ${short(prev)}, but the earlier export ends at seq ${after.lastSeq} with hash ${short(after.lastHash)}: this export does not continue it`,
        seq,
      )
      break
    }

    if (type === 'audit.checkpoint') {
      const verified = await verifyJws(value.checkpoint, CHECKPOINT_TYP)
      if (!verified.ok) {
        fail(`checkpoint: ${verified.reason}`, seq)
        break
      }
      // Ensure a key declared stolen signs nothing that counts after its rotation.
      const stolen = compromisedAt.get(verified.kid)
      if (stolen && stolen.line < line) {
        fail(
          `checkpoint: signed by key ${verified.kid} after key ${stolen.by} declared it compromised (the key.rotated event at seq ${String(stolen.seq)}, line ${stolen.line})`,
          seq,
        )
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
      trusted.get(verified.kid)!.checkpoints++
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
        // Forget what is now covered: bounded by what was kept, never by the seqs' values.
        for (const kept of recent.keys()) {
          if (kept >= covered) break
          recent.delete(kept)
        }
        coveredThrough = covered
        anchored = covered
      }
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
  if (!broken && segment && requireSeal) {
    report({
      line: (records[lastRecord]?.line ?? 0) + 1,
      reason: 'no export seal after the last event: events removed from the end could not be noticed',
    })
  }
  if (after && first) {
    anchor = `continues the earlier export, which ends at seq ${after.lastSeq}`
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
    pages: seals.size,
    complete,
    anchor,
    keys: [...trusted.values()],
    trustedJwks: [...trusted.keys()].flatMap((kid) => {
      const jwk = jwks.get(kid)
      return jwk ? [jwk] : []
    }),
    ...(problem ? { problem } : {}),
  }
}
