import { Redis, type Cluster } from 'ioredis'
import { encodeKeyPart } from '../wire/keys.js'
import type { AuditBackend, ChainStep, HeadState, IntakeEntry } from './audit-backend.js'
import { auditIndexRefs } from './audit-index-refs.js'
import type { AuditLog } from './audit-log.js'
import { auditUnavailable, createAuditLog, type AuditLogOptions } from './create-audit-log.js'
import { GENESIS_HASH, type AuditEvent } from './types.js'

export interface RedisAuditLogOptions extends AuditLogOptions {
  /**
   * The store's client (`RedisBackend.redis`: single, Sentinel or Cluster), configured to
   * fail fast; the log never closes it. On Cluster the log's keys share one slot (`{audit}`).
   */
  redis: Redis | Cluster
  /** The store's key prefix (`writ:` by default). */
  keyPrefix: string
  /** Longest wait for the client's first connection. Default 1000. */
  commandTimeoutMs?: number
}

/** Index lists cleaned per script call when trimming. */
const TRIM_KEYS_PER_CALL = 500
/** Events read per step when trimming. */
const TRIM_EVENTS_PER_STEP = 1000

/*
 * Keys, all tagged `{audit}` so one script can touch them together on Redis Cluster (the log is one
 * stream, so it lives on one shard):
 *
 *   <p>{audit}:log        stream of bodies; entry id `0-<seq>` (taken in with `XADD 0-*`, which
 *                         assigns the next seq atomically), field `e` = the body's canonical JSON
 *   <p>{audit}:chain      stream of hashes; entry id `0-<last seq>`, fields `f` (first seq) and
 *                         `h` (the hex hashes of seqs f to last, concatenated)
 *   <p>{audit}:head       hash { seq, hash (last chained), cps (last checkpoint's seq), cvs (the seq
 *                         it signed), cpt (its time, ms) }
 *   <p>{audit}:first      hash { <ref>: the first seq indexed under a reference (`g:<grant>`,
 *                         `t:<task>`, ...) }: most references (a grant, an approval) are named by
 *                         one or two events, and a hash field costs far less than a key per grant
 *   <p>{audit}:i:<ref>    list of the later seqs indexed under a reference
 */

/**
 * KEYS: head, chain, log, first, then the index list of every reference the step lists (in ARGV
 * order).
 * ARGV: expected head seq, new seq, new hash, checkpoint seq, covered seq, checkpoint time, first
 * seq, hashes (concatenated; '' for none), checkpoint body ('' for none), how many references,
 * then per reference: the reference, how many seqs it gets, and the seqs.
 * A reference's first seq goes into the `first` hash, the later ones onto its list (a first seq
 * indexed already, by the script that took the event in, is skipped).
 * Returns the checkpoint's seq (0 for none) when written, or the stored head
 * {seq, hash, cps, cvs, cpt} when it was not at the expected seq.
 */
const CHAIN_LUA = `
local current = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if current ~= tonumber(ARGV[1]) then
  return redis.call('HMGET', KEYS[1], 'seq', 'hash', 'cps', 'cvs', 'cpt')
end
if ARGV[8] ~= '' then
  redis.call('XADD', KEYS[2], '0-' .. ARGV[2], 'f', ARGV[7], 'h', ARGV[8])
end
local refs, from, counts = {}, {}, {}
local at = 11
for k = 1, tonumber(ARGV[10]) do
  refs[k] = ARGV[at]
  counts[k] = tonumber(ARGV[at + 1])
  from[k] = at + 2
  at = at + 2 + counts[k]
end
-- Lua's unpack has a limit: calls with many arguments go in chunks.
local CHUNK = 2000
local known = {}
for i = 1, #refs, CHUNK do
  local got = redis.call('HMGET', KEYS[4], unpack(refs, i, math.min(i + CHUNK - 1, #refs)))
  for j = 1, #got do known[i + j - 1] = got[j] end
end
local fresh = {}
for k = 1, #refs do
  local f, n = from[k], counts[k]
  if not known[k] then
    fresh[#fresh + 1] = refs[k]
    fresh[#fresh + 1] = ARGV[f]
    f, n = f + 1, n - 1
  elseif known[k] == ARGV[f] then
    -- Indexed when it was taken in (a new grant's first event): not onto the list as well.
    f, n = f + 1, n - 1
  end
  if n > 0 then
    redis.call('RPUSH', KEYS[4 + k], unpack(ARGV, f, f + n - 1))
  end
end
for i = 1, #fresh, CHUNK do
  redis.call('HSET', KEYS[4], unpack(fresh, i, math.min(i + CHUNK - 1, #fresh)))
end
local taken = 0
local cps = ARGV[4]
if ARGV[9] ~= '' then
  local id = redis.call('XADD', KEYS[3], '0-*', 'e', ARGV[9])
  cps = string.sub(id, 3)
  taken = tonumber(cps)
end
redis.call('HSET', KEYS[1], 'seq', ARGV[2], 'hash', ARGV[3], 'cps', cps, 'cvs', ARGV[5], 'cpt', ARGV[6])
return taken
`

/**
 * KEYS: first, then index lists. ARGV: seq, then the reference of each list. Drops each
 * reference's first seq when it is below the given seq, and the seqs below it from the front of
 * each list.
 */
const TRIM_INDEX_LUA = `
local before = tonumber(ARGV[1])
for k = 2, #KEYS do
  local first = redis.call('HGET', KEYS[1], ARGV[k])
  if first and tonumber(first) < before then
    redis.call('HDEL', KEYS[1], ARGV[k])
  end
  while true do
    local first = redis.call('LINDEX', KEYS[k], 0)
    if not first or tonumber(first) >= before then break end
    redis.call('LPOP', KEYS[k])
  end
end
return 1
`

type ScriptArg = string | number

interface AuditScripts {
  writAuditChain(numKeys: number, ...args: ScriptArg[]): Promise<number | Array<string | null>>
  writAuditTrimIndex(numKeys: number, ...args: ScriptArg[]): Promise<number>
}

/**
 * The Redis audit log: one stream shared by every broker replica. An event is taken in with one
 * `XADD` (Redis assigns the seq, so replicas never collide), which the shared client sends in the
 * same write as the request's other commands; each replica's chainer then stores batches of hashes
 * with a Lua compare-and-set on the head (see {@link AuditLog}). Uses the grant store's client and
 * key prefix. Needs Redis 7.0 or later (`XADD` with a `0-*` id).
 *
 * Memory: about the size of each event's JSON (300 to 1,000 bytes for a token), 64 bytes of hash
 * and a hash field per grant, task and approval (plus a list entry per later event naming one);
 * trim after exporting (`trim`). Redis must not evict keys.
 *
 * @example
 * const audit = createRedisAuditLog({ redis: store.redis, keyPrefix: store.keys.prefix,
 *   clock: systemClock, issuer, signer: keys })
 */
export function createRedisAuditLog(options: RedisAuditLogOptions): AuditLog {
  return createAuditLog(createRedisAuditBackend(options), options)
}

function createRedisAuditBackend(options: RedisAuditLogOptions): AuditBackend {
  const { redis } = options
  const commandTimeoutMs = options.commandTimeoutMs ?? 1000
  const base = `${options.keyPrefix}{audit}`
  const logKey = `${base}:log`
  const chainKey = `${base}:chain`
  const headKey = `${base}:head`
  const firstKey = `${base}:first`
  const indexKey = (ref: string): string => `${base}:i:${encodeKeyPart(ref)}`
  redis.defineCommand('writAuditChain', { lua: CHAIN_LUA })
  redis.defineCommand('writAuditTrimIndex', { lua: TRIM_INDEX_LUA })
  const scripts = redis as unknown as AuditScripts

  /** Waits (bounded) for the shared client's first connection. */
  const ready = async (): Promise<void> => {
    if (redis.status === 'ready') return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        redis.off('ready', onReady)
        reject(new Error(`no connection to Redis within ${commandTimeoutMs} ms`))
      }, commandTimeoutMs)
      const onReady = (): void => {
        clearTimeout(timer)
        resolve()
      }
      redis.once('ready', onReady)
    })
  }

  const unavailable = (err: unknown): never => {
    throw auditUnavailable(err)
  }
  const run = <T>(op: () => Promise<T>): Promise<T> => {
    let pending: Promise<T>
    try {
      // The usual case (connected) sends the command at once; else wait for the connection.
      pending = redis.status === 'ready' ? op() : ready().then(op)
    } catch (err) {
      pending = Promise.reject(err)
    }
    return pending.catch(unavailable)
  }

  const seqOf = (id: string): number => Number(id.slice(2))

  const idToSeq = (id: string | null): number => {
    if (typeof id !== 'string') throw auditUnavailable(new Error('XADD returned no id'))
    return seqOf(id)
  }

  const toHead = (reply: Array<string | null>): HeadState => ({
    seq: Number(reply[0] ?? 0),
    hash: reply[1] ?? GENESIS_HASH,
    checkpointSeq: Number(reply[2] ?? 0),
    coveredSeq: Number(reply[3] ?? 0),
    checkpointTimeMs: Number(reply[4] ?? 0),
  })

  const readBodies = (fromSeq: number, limit: number): Promise<IntakeEntry[]> =>
    run(async () => {
      const entries = await redis.xrange(logKey, `0-${fromSeq}`, '+', 'COUNT', limit)
      return entries.map(([id, fields]) => ({ seq: seqOf(id), body: fields[1] ?? '' }))
    })

  return {
    kind: 'redis',
    // A grant store's script on the same server can take events in with its own writes; not on
    // Cluster, where the stream's slot is not the grant's.
    ...(redis instanceof Redis ? { sharedStream: { client: redis, key: logKey, firstKey } } : {}),

    intake: (body) => run(() => redis.xadd(logKey, '0-*', 'e', body)).then(idToSeq),

    lastSeq: () =>
      run(async () => {
        const [last] = await redis.xrevrange(logKey, '+', '-', 'COUNT', 1)
        return last ? seqOf(last[0]) : 0
      }),

    loadHead: () =>
      run(async () => toHead(await redis.hmget(headKey, 'seq', 'hash', 'cps', 'cvs', 'cpt'))),

    async chain(step: ChainStep) {
      const keys = [headKey, chainKey, logKey, firstKey]
      const pushes: ScriptArg[] = [step.index.size]
      for (const [ref, seqs] of step.index) {
        keys.push(indexKey(ref))
        pushes.push(ref, seqs.length, ...seqs)
      }
      const { next } = step
      const reply = await run(() =>
        scripts.writAuditChain(
          keys.length,
          ...keys,
          step.expectedSeq,
          next.seq,
          next.hash,
          next.checkpointSeq,
          next.coveredSeq,
          next.checkpointTimeMs,
          step.firstSeq,
          step.hashes.join(''),
          step.checkpoint ?? '',
          ...pushes,
        ),
      )
      if (Array.isArray(reply)) return { head: toHead(reply) }
      return { checkpointSeq: reply === 0 ? null : reply }
    },

    readBodies,

    readHashes: (fromSeq: number, toSeq: number) =>
      run(async () => {
        const out = new Map<number, string>()
        if (toSeq < fromSeq) return out
        // Each record covers one or more seqs, so this many records reach past `toSeq`.
        const records = await redis.xrange(chainKey, `0-${fromSeq}`, '+', 'COUNT', toSeq - fromSeq + 1)
        for (const [id, fields] of records) {
          const last = seqOf(id)
          const first = Number(fields[1])
          const hashes = fields[3] ?? ''
          for (let seq = Math.max(first, fromSeq); seq <= Math.min(last, toSeq); seq++) {
            out.set(seq, hashes.slice((seq - first) * 64, (seq - first + 1) * 64))
          }
          if (last >= toSeq) break
        }
        return out
      }),

    find: (ref: string, limit: number) =>
      run(async () => {
        const [first, later] = await Promise.all([
          redis.hget(firstKey, ref),
          redis.lrange(indexKey(ref), 0, limit - 1),
        ])
        const seqs = later.map(Number)
        if (first !== null) seqs.push(Number(first))
        // In seq order: after a trim, or for a list written before the `first` hash existed, the
        // first seq can be a later one than the list's.
        return seqs.sort((a, b) => a - b).slice(0, limit)
      }),

    async trimBefore(beforeSeq: number) {
      let removed = 0
      for (;;) {
        const doomed = (await readBodies(1, TRIM_EVENTS_PER_STEP)).filter((e) => e.seq < beforeSeq)
        const last = doomed.at(-1)
        if (!last) break
        // Events first, then their index entries: a crash in between leaves only index entries
        // that point at nothing, which lookups skip.
        await run(() => redis.xtrim(logKey, 'MINID', `0-${last.seq + 1}`))
        const refs = doomed.flatMap((e) => {
          try {
            return auditIndexRefs(JSON.parse(e.body) as AuditEvent)
          } catch {
            return []
          }
        })
        const unique = [...new Set(refs)]
        for (let i = 0; i < unique.length; i += TRIM_KEYS_PER_CALL) {
          const slice = unique.slice(i, i + TRIM_KEYS_PER_CALL)
          await run(() =>
            scripts.writAuditTrimIndex(
              slice.length + 1,
              firstKey,
              ...slice.map(indexKey),
              last.seq + 1,
              ...slice,
            ),
          )
        }
        removed += doomed.length
      }
      // The hash before the first kept event stays: it is that event's `prev`.
      await run(() => redis.xtrim(chainKey, 'MINID', `0-${beforeSeq - 1}`))
      return removed
    },
  }
}
