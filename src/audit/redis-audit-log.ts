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
 * ARGV: expected head hash ('' for an empty log), the seq the batch follows (`base`), new hash,
 * checkpoint seq, checkpoint time, event count `n`, the events' JSON joined by newlines (canonical
 * JSON has none of its own; event `j` from 1 gets seq `base + j`), and per index list, in KEYS
 * order and separated by `;`, the positions `j` of the events it lists, separated by `,`.
 * The batch travels in a few arguments, not several per event: each argument costs the client and
 * the server, and one RPUSH per list and batch serves every event that shares the list.
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
local lines = {}
local at = 1
local text = ARGV[7]
local newline = string.char(10)
while true do
  local nl = string.find(text, newline, at, true)
  if not nl then
    lines[#lines + 1] = string.sub(text, at)
    break
  end
  lines[#lines + 1] = string.sub(text, at, nl - 1)
  at = nl + 1
end
if #lines ~= tonumber(ARGV[6]) then
  return redis.error_reply('WRITAUDIT the batch does not hold the events it announces')
end
local base = tonumber(ARGV[2])
for j = 1, #lines do
  redis.call('XADD', KEYS[1], string.format('0-%d', base + j), 'e', lines[j])
end
local k = 3
for list in string.gmatch(ARGV[8], '[^;]+') do
  local seqs = {}
  for p in string.gmatch(list, '%d+') do
    seqs[#seqs + 1] = string.format('%d', base + tonumber(p))
  end
  redis.call('RPUSH', KEYS[k], unpack(seqs))
  k = k + 1
end
redis.call('HSET', KEYS[2], 'seq', string.format('%d', base + #lines), 'hash', ARGV[3], 'cps', ARGV[4], 'cpt', ARGV[5])
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
      // Per index list, the positions (from 1) in the batch of the events it lists.
      const listed = new Map<string, string>()
      let lines = ''
      events.forEach(({ json, refs }, at) => {
        lines += at === 0 ? json : `\n${json}`
        for (const ref of refs) {
          const positions = listed.get(ref)
          listed.set(ref, positions === undefined ? `${at + 1}` : `${positions},${at + 1}`)
        }
      })
      for (const ref of listed.keys()) keys.push(indexKey(ref))
      const reply = await run(() =>
        scripts.writAuditAppend(
          keys.length,
          ...keys,
          expected.seq === 0 ? '' : expected.hash,
          expected.seq,
          next.hash,
          next.checkpointSeq,
          next.checkpointTimeMs,
          events.length,
          lines,
          [...listed.values()].join(';'),
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
