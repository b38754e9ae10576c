import type { Cluster, Redis } from 'ioredis'
import { encodeKeyPart } from '../grants/keys.js'
import type { AuditBackend, ChainedEvent, HeadState } from './audit-backend.js'
import { auditIndexRefs } from './audit-index-refs.js'
import type { AuditLog } from './audit-log.js'
import { auditUnavailable, createAuditLog, type AuditLogOptions } from './create-audit-log.js'
import { GENESIS_HASH, type AuditEvent } from './types.js'

export interface RedisAuditLogOptions extends AuditLogOptions {
  /**
   * The grant store's client (`RedisGrantStore.redis`: single, Sentinel or Cluster), configured to
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
 *   <p>{audit}:log        stream; entry id `0-<seq>`, field `e` = the event's JSON
 *   <p>{audit}:head       hash { seq, hash, cps (last checkpoint seq), cpt (its time, ms) }
 *   <p>{audit}:i:<ref>    list of seqs indexed under a reference (`g:<grant>`, `t:<task>`, ...)
 */

/**
 * KEYS: log, head, then every index list the batch touches.
 * ARGV: expected head hash ('' for an empty log), new seq, new hash, checkpoint seq, checkpoint
 * time, event count; then per event: seq, JSON, number of index lists, their positions in KEYS.
 * Returns 1 when written, or the current head {seq, hash, cps, cpt} when it was not the expected one.
 */
const APPEND_LUA = `
local current = redis.call('HGET', KEYS[2], 'hash')
if not current then
  if ARGV[1] ~= '' then
    return redis.call('HMGET', KEYS[2], 'seq', 'hash', 'cps', 'cpt')
  end
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return redis.error_reply('WRITAUDIT the audit log exists but its head is missing')
  end
elseif current ~= ARGV[1] then
  return redis.call('HMGET', KEYS[2], 'seq', 'hash', 'cps', 'cpt')
end
local i = 7
for _ = 1, tonumber(ARGV[6]) do
  local seq = ARGV[i]
  redis.call('XADD', KEYS[1], '0-' .. seq, 'e', ARGV[i + 1])
  local refs = tonumber(ARGV[i + 2])
  for r = 1, refs do
    redis.call('RPUSH', KEYS[tonumber(ARGV[i + 2 + r])], seq)
  end
  i = i + 3 + refs
end
redis.call('HSET', KEYS[2], 'seq', ARGV[2], 'hash', ARGV[3], 'cps', ARGV[4], 'cpt', ARGV[5])
return 1
`

/** KEYS: index lists. ARGV: seq. Drops the seqs below it from the front of each list. */
const TRIM_INDEX_LUA = `
local before = tonumber(ARGV[1])
for k = 1, #KEYS do
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
  writAuditAppend(numKeys: number, ...args: ScriptArg[]): Promise<1 | Array<string | null>>
  writAuditTrimIndex(numKeys: number, ...args: ScriptArg[]): Promise<number>
}

/**
 * The Redis audit log: one stream shared by every broker replica, appended atomically by a Lua
 * script that writes a whole batch only if the head is still the one the batch was chained on
 * (see {@link AuditLog}). Uses the grant store's client and key prefix.
 *
 * Memory: about the size of each event's JSON (300 to 1,000 bytes for a token) plus a short list
 * entry per grant, task and approval; trim after exporting (`trim`). Redis must not evict keys.
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
  const headKey = `${base}:head`
  const indexKey = (ref: string): string => `${base}:i:${encodeKeyPart(ref)}`
  redis.defineCommand('writAuditAppend', { lua: APPEND_LUA })
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
      // The usual case (connected) goes straight to the command; else wait for the connection.
      pending = redis.status === 'ready' ? op() : ready().then(op)
    } catch (err) {
      pending = Promise.reject(err)
    }
    return pending.catch(unavailable)
  }

  const toHead = (reply: Array<string | null>): HeadState => ({
    seq: Number(reply[0] ?? 0),
    hash: reply[1] ?? GENESIS_HASH,
    checkpointSeq: Number(reply[2] ?? 0),
    checkpointTimeMs: Number(reply[3] ?? 0),
  })

  const parseEntries = (entries: Array<[string, string[]]>): AuditEvent[] =>
    entries.map(([, fields]) => JSON.parse(fields[1] ?? 'null') as AuditEvent)

  const read = (fromSeq: number, limit: number): Promise<AuditEvent[]> =>
    run(async () => parseEntries(await redis.xrange(logKey, `0-${fromSeq}`, '+', 'COUNT', limit)))

  return {
    kind: 'redis',

    loadHead: () =>
      run(async () => toHead(await redis.hmget(headKey, 'seq', 'hash', 'cps', 'cpt'))),

    async commit(expected: HeadState, events: ChainedEvent[], next: HeadState) {
      const keys = [logKey, headKey]
      const position = new Map<string, number>()
      const perEvent: ScriptArg[] = []
      for (const { event, json, refs } of events) {
        perEvent.push(event.seq, json, refs.length)
        for (const ref of refs) {
          let at = position.get(ref)
          if (at === undefined) {
            keys.push(indexKey(ref))
            at = keys.length
            position.set(ref, at)
          }
          perEvent.push(at)
        }
      }
      const reply = await run(() =>
        scripts.writAuditAppend(
          keys.length,
          ...keys,
          expected.seq === 0 ? '' : expected.hash,
          next.seq,
          next.hash,
          next.checkpointSeq,
          next.checkpointTimeMs,
          events.length,
          ...perEvent,
        ),
      )
      return reply === 1 ? null : toHead(reply)
    },

    read,

    async find(ref: string, limit: number) {
      return run(async () => {
        const seqs = await redis.lrange(indexKey(ref), 0, limit - 1)
        const found = await Promise.all(
          seqs.map((seq) => redis.xrange(logKey, `0-${seq}`, `0-${seq}`)),
        )
        // A seq whose event was trimmed is skipped.
        return found.flatMap((entries) => parseEntries(entries))
      })
    },

    async trimBefore(beforeSeq: number) {
      let removed = 0
      for (;;) {
        const doomed = (await read(1, TRIM_EVENTS_PER_STEP)).filter((e) => e.seq < beforeSeq)
        const last = doomed.at(-1)
        if (!last) return removed
        // Events first, then their index entries: a crash in between leaves only index entries
        // that point at nothing, which lookups skip.
        await run(() => redis.xtrim(logKey, 'MINID', `0-${last.seq + 1}`))
        const lists = [...new Set(doomed.flatMap((e) => auditIndexRefs(e)))].map(indexKey)
        for (let i = 0; i < lists.length; i += TRIM_KEYS_PER_CALL) {
          const slice = lists.slice(i, i + TRIM_KEYS_PER_CALL)
          await run(() => scripts.writAuditTrimIndex(slice.length, ...slice, last.seq + 1))
        }
        removed += doomed.length
      }
    },
  }
}
