import { sharedClientRunner, type SharedRedisClientOptions } from '../../store/shared-redis-client.js'
import { storeUnavailable } from '../../errors.js'
import { createApprovalKeys } from './keys.js'
import {
  type ApprovalScope,
  type ApprovalStore,
  type CreateOutcome,
  type CreateRequestOptions,
  type CredentialUse,
  type DenyOutcome,
  type EnrolOutcome,
  EXPIRED_RETENTION_SECONDS,
  MAX_JOINED_SECRETS,
  MAX_POLL_INTERVAL_SECONDS,
  type VoteOutcome,
  type WithdrawOutcome,
} from './store.js'
import {
  approvalIdInUse,
  assertCounter,
  assertCreatableRequest,
  assertMaxPending,
  assertRetentionSeconds,
  coalesceKey,
  compareCredentials,
} from './store-rules.js'
import type {
  ApprovalDenial,
  ApprovalEvidence,
  ApprovalRecord,
  ApprovalRequest,
  ApprovalRevocation,
  ApprovalStatus,
  ApprovalVote,
  ApproverCredential,
  ApproverCredentialState,
  CredentialFlag,
  EnrolmentInvite,
  RegistrationChallenge,
  StoredChallenge,
} from '../types.js'

/** Options of {@link createRedisApprovalStore}: it keeps its records on the grant store's client. */
export type RedisApprovalStoreOptions = SharedRedisClientOptions

/*
 * Lua scripts, each atomic on the server. Every key a script touches is declared in KEYS and
 * shares one hash tag ({ar:<id>} or {ap}), so they run on Redis Cluster. Times come from the
 * caller's clock, never from Redis TIME.
 */

/** KEYS: request, state. ARGV: request JSON, status, expiry (ms), interval (s), retention (ms). */
const CREATE_REQUEST_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[5])
redis.call('HSET', KEYS[2], 'status', ARGV[2], 'exp', ARGV[3], 'nvotes', '0', 'interval', ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 1
`

/**
 * KEYS: open, client's open, task's open, client's pending, coalescing key (all `{ao}`).
 * ARGV: now (ms), id, expiry (ms), index life (ms), bounded 0/1, most pending, coalesce 0/1.
 * Indexes a stored request, unless (bounded) an identical pending one is indexed: {'joined', id};
 * or the client has `most pending` requests waiting: {'full', count, earliest expiry (ms)}.
 */
const OPEN_LUA = `
local now = tonumber(ARGV[1])
for i = 1, 4 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
end
if ARGV[5] == '1' then
  if ARGV[7] == '1' then
    local existing = redis.call('GET', KEYS[5])
    if existing and existing ~= ARGV[2] and redis.call('ZSCORE', KEYS[4], existing) then
      return {'joined', existing}
    end
  end
  local n = redis.call('ZCARD', KEYS[4])
  if n >= tonumber(ARGV[6]) then
    local first = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
    return {'full', tostring(n), first[2] or ARGV[3]}
  end
end
local life = tonumber(ARGV[4])
local function index(key)
  redis.call('ZADD', key, ARGV[3], ARGV[2])
  if redis.call('PTTL', key) < life then
    redis.call('PEXPIRE', key, life)
  end
end
index(KEYS[1])
index(KEYS[2])
index(KEYS[3])
if ARGV[5] == '1' then
  index(KEYS[4])
  if ARGV[7] == '1' then
    redis.call('SET', KEYS[5], ARGV[2], 'PX', life)
  end
end
return {'indexed'}
`

/**
 * KEYS: open, client's open, task's open, client's pending, coalescing key. ARGV: id, mode.
 * `decided`: the request waits for no human any more; `closed`: it is not open at all.
 */
const DEINDEX_LUA = `
if ARGV[2] == 'closed' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
end
redis.call('ZREM', KEYS[4], ARGV[1])
if redis.call('GET', KEYS[5]) == ARGV[1] then
  redis.call('DEL', KEYS[5])
end
return 1
`

/** KEYS: client's pending, coalescing key. ARGV: id, expiry (ms), index life (ms). Pending again */
const REPEND_LUA = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[3])
return 1
`

/** KEYS: state. ARGV: now (ms), secret SHA-256, most joined. Adds a secret to a pending request. */
const JOIN_LUA = `
local st = redis.call('HMGET', KEYS[1], 'status', 'exp', 'njoined')
if not st[1] then
  return 'missing'
end
if st[1] ~= 'pending' or tonumber(st[2]) <= tonumber(ARGV[1]) then
  return 'closed'
end
if tonumber(st[3] or '0') >= tonumber(ARGV[3]) then
  return 'crowded'
end
local n = redis.call('HINCRBY', KEYS[1], 'njoined', 1)
redis.call('HSET', KEYS[1], 'j:' .. n, ARGV[2])
return 'joined'
`

/**
 * KEYS: state, votes. ARGV: now (ms), revocation JSON, approver ('' for any).
 * Ends an open request (pending or approved, unexpired); with an approver, only one holding that
 * person's vote. A redeemed one keeps the revocation (its redeemer checks for it after minting).
 * Returns {'ended', previous status} or {'closed', status}.
 */
const END_LUA = `
local st = redis.call('HMGET', KEYS[1], 'status', 'exp')
if not st[1] then
  return {'closed', 'unknown'}
end
if st[1] ~= 'pending' and st[1] ~= 'approved' and st[1] ~= 'redeemed' then
  return {'closed', st[1]}
end
if ARGV[3] ~= '' and redis.call('HEXISTS', KEYS[2], 'p:' .. ARGV[3]) == 0 then
  return {'closed', 'unmatched'}
end
if tonumber(st[2]) <= tonumber(ARGV[1]) then
  return {'closed', 'expired'}
end
if st[1] == 'redeemed' then
  redis.call('HSETNX', KEYS[1], 'revocation', ARGV[2])
  return {'closed', 'redeemed'}
end
redis.call('HSET', KEYS[1], 'status', 'revoked', 'revocation', ARGV[2])
return {'ended', st[1]}
`

/**
 * KEYS: state, votes. ARGV: now (ms), expected votes, credential ids to withdraw...
 * Removes those votes (keeping the order of the rest) and makes the request pending again.
 */
const WITHDRAW_LUA = `
local st = redis.call('HMGET', KEYS[1], 'status', 'exp', 'nvotes')
if not st[1] then
  return {'closed', 'unknown'}
end
if st[1] ~= 'pending' and st[1] ~= 'approved' then
  return {'closed', st[1]}
end
if tonumber(st[2]) <= tonumber(ARGV[1]) then
  return {'closed', 'expired'}
end
local n = tonumber(st[3] or '0')
if n ~= tonumber(ARGV[2]) then
  return {'conflict'}
end
local removed = {}
for i = 3, #ARGV do
  local sub = redis.call('HGET', KEYS[2], 'k:' .. ARGV[i])
  if sub then
    removed[sub] = true
    redis.call('HDEL', KEYS[2], 'k:' .. ARGV[i], 'p:' .. sub)
  end
end
local kept = {}
for i = 1, n do
  local sub = redis.call('HGET', KEYS[2], 'o:' .. i)
  redis.call('HDEL', KEYS[2], 'o:' .. i)
  if sub and not removed[sub] then
    table.insert(kept, sub)
  end
end
for i, sub in ipairs(kept) do
  redis.call('HSET', KEYS[2], 'o:' .. i, sub)
end
redis.call('HSET', KEYS[1], 'status', 'pending', 'nvotes', tostring(#kept))
return {'withdrawn'}
`

/** KEYS: request, state, votes. Returns the three, read in one atomic step. */
const READ_REQUEST_LUA = `
return {
  redis.call('GET', KEYS[1]) or '',
  redis.call('HGETALL', KEYS[2]),
  redis.call('HGETALL', KEYS[3]),
}
`

/**
 * KEYS: state, votes. ARGV: now (ms), sub, credential id, vote JSON, expected votes, completes.
 * Vote fields: p:<sub> → vote JSON, k:<credential> → sub, o:<n> → sub (recording order).
 */
const ADD_VOTE_LUA = `
local st = redis.call('HMGET', KEYS[1], 'status', 'exp', 'nvotes')
if not st[1] then
  return {'closed', 'unknown'}
end
if st[1] ~= 'pending' then
  return {'closed', st[1]}
end
if tonumber(st[2]) <= tonumber(ARGV[1]) then
  return {'closed', 'expired'}
end
if redis.call('HEXISTS', KEYS[2], 'p:' .. ARGV[2]) == 1 then
  return {'duplicate_approver'}
end
if redis.call('HEXISTS', KEYS[2], 'k:' .. ARGV[3]) == 1 then
  return {'duplicate_key'}
end
if tonumber(st[3]) ~= tonumber(ARGV[5]) then
  return {'conflict'}
end
local n = redis.call('HINCRBY', KEYS[1], 'nvotes', 1)
redis.call('HSET', KEYS[2], 'p:' .. ARGV[2], ARGV[4], 'k:' .. ARGV[3], ARGV[2], 'o:' .. n, ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
local status = 'pending'
if ARGV[6] == '1' then
  status = 'approved'
  redis.call('HSET', KEYS[1], 'status', status)
end
return {'recorded', status}
`

/** KEYS: state. ARGV: now (ms), denial JSON. */
const DENY_LUA = `
local st = redis.call('HMGET', KEYS[1], 'status', 'exp')
if not st[1] then
  return {'closed', 'unknown'}
end
if st[1] ~= 'pending' then
  return {'closed', st[1]}
end
if tonumber(st[2]) <= tonumber(ARGV[1]) then
  return {'closed', 'expired'}
end
redis.call('HSET', KEYS[1], 'status', 'denied', 'denial', ARGV[2])
return {'denied'}
`

/** KEYS: state. ARGV: now (ms), largest interval (s). Returns {slow down 0/1, interval}. */
const RECORD_POLL_LUA = `
local h = redis.call('HMGET', KEYS[1], 'poll', 'interval')
if not h[2] then
  return {0, 0}
end
local interval = tonumber(h[2])
redis.call('HSET', KEYS[1], 'poll', ARGV[1])
if h[1] and tonumber(ARGV[1]) - tonumber(h[1]) < interval * 1000 then
  interval = math.min(interval + 5, tonumber(ARGV[2]))
  redis.call('HSET', KEYS[1], 'interval', tostring(interval))
  return {1, interval}
end
return {0, interval}
`

/** KEYS: state. ARGV: now (ms). Returns 1 for the one caller that redeems. */
const REDEEM_LUA = `
local st = redis.call('HMGET', KEYS[1], 'status', 'exp')
if st[1] ~= 'approved' or tonumber(st[2]) <= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'redeemed')
return 1
`

/** KEYS: state. ARGV: now (ms). Returns 1 for the one caller that marks a pending request expired. */
const MARK_EXPIRED_LUA = `
local st = redis.call('HMGET', KEYS[1], 'status', 'exp')
if st[1] ~= 'pending' or tonumber(st[2]) > tonumber(ARGV[1]) then
  return 0
end
return redis.call('HSETNX', KEYS[1], 'expired', '1')
`

/**
 * KEYS: invite, credential, approver's credentials, all credentials.
 * ARGV: invite JSON as the caller read it, credential JSON, counter, credential id.
 */
const ENROL_LUA = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 'invite_used'
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 'credential_exists'
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[2], 'json', ARGV[2], 'counter', ARGV[3])
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('SADD', KEYS[4], ARGV[4])
return 'enrolled'
`

/** KEYS: credential. ARGV: flag JSON. Sets the flag unless one is there; 0 for an unknown key. */
const FLAG_CREDENTIAL_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSETNX', KEYS[1], 'flagged', ARGV[1])
return 1
`

/** KEYS: credential. ARGV: new counter, flag JSON. */
const USE_CREDENTIAL_LUA = `
local h = redis.call('HMGET', KEYS[1], 'counter', 'flagged')
if not h[1] then
  return 'unknown'
end
if h[2] then
  return 'flagged'
end
local old = tonumber(h[1])
local new = tonumber(ARGV[1])
if (new > 0 or old > 0) and new <= old then
  redis.call('HSET', KEYS[1], 'flagged', ARGV[2])
  return 'regressed'
end
redis.call('HSET', KEYS[1], 'counter', ARGV[1])
return 'ok'
`

type Arg = string | number

interface ApprovalScripts {
  writApprovalCreate(...args: Arg[]): Promise<number>
  writApprovalRead(...args: Arg[]): Promise<[string, string[], string[]]>
  writApprovalVote(...args: Arg[]): Promise<string[]>
  writApprovalDeny(...args: Arg[]): Promise<string[]>
  writApprovalPoll(...args: Arg[]): Promise<[number, number]>
  writApprovalRedeem(...args: Arg[]): Promise<number>
  writApprovalMarkExpired(...args: Arg[]): Promise<number>
  writApprovalOpen(...args: Arg[]): Promise<string[]>
  writApprovalDeindex(...args: Arg[]): Promise<number>
  writApprovalRepend(...args: Arg[]): Promise<number>
  writApprovalJoin(...args: Arg[]): Promise<string>
  writApprovalEnd(...args: Arg[]): Promise<string[]>
  writApprovalWithdraw(...args: Arg[]): Promise<string[]>
  writApproverFlag(...args: Arg[]): Promise<number>
  writApproverEnrol(...args: Arg[]): Promise<EnrolOutcome>
  writApproverUse(...args: Arg[]): Promise<CredentialUse>
}

/** A flat HGETALL reply as a map. */
function fields(flat: string[]): Map<string, string> {
  const out = new Map<string, string>()
  for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i]!, flat[i + 1]!)
  return out
}

const parse = <T>(json: string): T => JSON.parse(json) as T

/**
 * The Redis approval store. It uses the store's client (`RedisBackend.redis`) and key
 * prefix, so it fails fast and recovers with it; `close()` leaves the client open. Any Redis
 * error or timeout becomes a WritError `temporarily_unavailable` (503).
 *
 * Approval requests survive a broker restart: everything lives in Redis, under relative TTLs
 * computed from the broker's clock (as grants are).
 *
 * @example
 * ```ts
 * const { backend } = createRedisStore({ url, clock })
 * const approvals = createRedisApprovalStore({ redis: backend.redis, keyPrefix: backend.keys.prefix, clock })
 * ```
 */
export function createRedisApprovalStore(options: RedisApprovalStoreOptions): ApprovalStore {
  const { redis, clock } = options
  const keys = createApprovalKeys(options.keyPrefix)
  redis.defineCommand('writApprovalCreate', { numberOfKeys: 2, lua: CREATE_REQUEST_LUA })
  redis.defineCommand('writApprovalRead', { numberOfKeys: 3, lua: READ_REQUEST_LUA })
  redis.defineCommand('writApprovalVote', { numberOfKeys: 2, lua: ADD_VOTE_LUA })
  redis.defineCommand('writApprovalDeny', { numberOfKeys: 1, lua: DENY_LUA })
  redis.defineCommand('writApprovalPoll', { numberOfKeys: 1, lua: RECORD_POLL_LUA })
  redis.defineCommand('writApprovalRedeem', { numberOfKeys: 1, lua: REDEEM_LUA })
  redis.defineCommand('writApprovalMarkExpired', { numberOfKeys: 1, lua: MARK_EXPIRED_LUA })
  redis.defineCommand('writApprovalOpen', { numberOfKeys: 5, lua: OPEN_LUA })
  redis.defineCommand('writApprovalDeindex', { numberOfKeys: 5, lua: DEINDEX_LUA })
  redis.defineCommand('writApprovalRepend', { numberOfKeys: 2, lua: REPEND_LUA })
  redis.defineCommand('writApprovalJoin', { numberOfKeys: 1, lua: JOIN_LUA })
  redis.defineCommand('writApprovalEnd', { numberOfKeys: 2, lua: END_LUA })
  redis.defineCommand('writApprovalWithdraw', { numberOfKeys: 2, lua: WITHDRAW_LUA })
  redis.defineCommand('writApproverEnrol', { numberOfKeys: 4, lua: ENROL_LUA })
  redis.defineCommand('writApproverUse', { numberOfKeys: 1, lua: USE_CREDENTIAL_LUA })
  redis.defineCommand('writApproverFlag', { numberOfKeys: 1, lua: FLAG_CREDENTIAL_LUA })
  const scripts = redis as unknown as ApprovalScripts
  let closed = false

  /** Runs Redis I/O; anything that goes wrong there means the store is unavailable. */
  const runShared = sharedClientRunner(options)
  const run = <T>(op: () => Promise<T>): Promise<T> => {
    // Ensure a closed store fails closed, even though its client is shared and still open.
    if (closed) return Promise.reject(storeUnavailable(new Error('the Redis approval store is closed')))
    return runShared(op)
  }

  /** Milliseconds from now until `atSeconds`, at least 1. */
  const pxUntil = (atSeconds: number): number => Math.max(1, Math.ceil(atSeconds * 1000 - clock()))

  const readCredentials = async (ids: string[]): Promise<ApproverCredentialState[]> => {
    if (ids.length === 0) return []
    const rows = await run(() =>
      Promise.all(ids.map((id) => redis.hmget(keys.credential(id), 'json', 'counter', 'flagged'))),
    )
    const out: ApproverCredentialState[] = []
    for (const [json, counter, flagged] of rows) {
      if (!json || counter == null) continue
      out.push({
        ...parse<ApproverCredential>(json),
        currentCounter: Number(counter),
        ...(flagged ? { flagged: parse<CredentialFlag>(flagged) } : {}),
      })
    }
    return out
  }

  /** A request's `{ao}` index keys: open, client's, task's, client's pending, coalescing. */
  const indexKeys = (request: ApprovalRequest): string[] => [
    keys.openAll(),
    keys.openByClient(request.clientId),
    keys.openByTask(request.manifest.task.id),
    keys.pendingByClient(request.clientId),
    keys.coalesce(request.clientId, coalesceKey(request)),
  ]

  /** Takes a request out of the pending index (`decided`) or out of every index (`closed`). */
  const deindex = (request: ApprovalRequest, id: string, mode: 'decided' | 'closed'): Promise<number> =>
    run(() => scripts.writApprovalDeindex(...indexKeys(request), id, mode))

  const readRequest = async (id: string): Promise<ApprovalRequest | null> => {
    const json = await run(() => redis.get(keys.request(id)))
    return json ? parse<ApprovalRequest>(json) : null
  }

  /** Deletes a request this call stored and then did not keep (nobody else knows its id). */
  const discard = (id: string): Promise<number> => run(() => redis.del(keys.request(id), keys.state(id)))

  /** The index `scope` is found through; null for one request named by id. */
  const scopeIndex = (scope: ApprovalScope): string | null => {
    if ('approvalId' in scope) return null
    if ('clientId' in scope) return keys.openByClient(scope.clientId)
    if ('taskId' in scope) return keys.openByTask(scope.taskId)
    return keys.openAll()
  }

  return {
    kind: 'redis',

    async createRequest(request: ApprovalRequest, options?: CreateRequestOptions): Promise<CreateOutcome> {
      const now = clock()
      assertCreatableRequest(request, now)
      if (options) assertMaxPending(options.maxPending)
      const created = await run(() =>
        scripts.writApprovalCreate(
          keys.request(request.id),
          keys.state(request.id),
          JSON.stringify(request),
          request.requirements.length === 0 ? 'approved' : 'pending',
          request.expiresAt * 1000,
          request.intervalSeconds,
          pxUntil(request.expiresAt + EXPIRED_RETENTION_SECONDS),
        ),
      )
      // Ensure an approval id is never reused.
      if (created !== 1) throw approvalIdInUse()
      const bounded = options !== undefined && request.requirements.length > 0
      // The indexes live in their own slot, written after the request and before the caller
      // learns its id: a request whose creation returned is always found by `endRequests`.
      for (let attempt = 0; attempt < 3; attempt++) {
        const [outcome, first, second] = await run(() =>
          scripts.writApprovalOpen(
            ...indexKeys(request),
            clock(),
            request.id,
            request.expiresAt * 1000,
            pxUntil(request.expiresAt),
            bounded ? '1' : '0',
            options?.maxPending ?? 0,
            options?.coalesce ? '1' : '0',
          ),
        )
        if (outcome === 'indexed') return { outcome: 'created' }
        if (outcome === 'full') {
          // Ensure one client cannot keep more requests waiting for humans than its policy allows.
          await discard(request.id)
          return {
            outcome: 'too_many_pending',
            pending: Number(first),
            earliestExpiresAt: Math.floor(Number(second) / 1000),
          }
        }
        if (outcome !== 'joined' || first === undefined) {
          throw storeUnavailable(new Error(`unexpected open script reply ${String(outcome)}`))
        }
        // Ensure an identical request waiting for a human is asked about once: join it.
        const existingId = first
        const joined = await run(() =>
          scripts.writApprovalJoin(keys.state(existingId), clock(), request.secretSha256, MAX_JOINED_SECRETS),
        )
        const existing = joined === 'missing' ? null : await readRequest(existingId)
        if (existing && (joined === 'joined' || joined === 'crowded')) {
          await discard(request.id)
          return joined === 'joined'
            ? { outcome: 'joined', request: existing }
            : { outcome: 'too_many_joined', request: existing }
        }
        // It no longer waits for a human: it leaves the pending index, and this one is tried again.
        // (An identical request has this one's client, task and coalescing key.)
        await deindex(request, existingId, 'decided')
      }
      await discard(request.id)
      throw storeUnavailable(new Error('identical approval requests kept changing; retry'))
    },

    async getRequest(id: string): Promise<ApprovalRecord | null> {
      const [json, stateFlat, votesFlat] = await run(() =>
        scripts.writApprovalRead(keys.request(id), keys.state(id), keys.votes(id)),
      )
      if (!json) return null
      const request = parse<ApprovalRequest>(json)
      // Ensure liveness is decided by the broker's clock, whatever Redis's timers say.
      if ((request.expiresAt + EXPIRED_RETENTION_SECONDS) * 1000 <= clock()) return null
      const state = fields(stateFlat)
      const voteFields = fields(votesFlat)
      const votes: ApprovalVote[] = []
      const count = Number(state.get('nvotes') ?? 0)
      for (let n = 1; n <= count; n++) {
        const sub = voteFields.get(`o:${n}`)
        const vote = sub === undefined ? undefined : voteFields.get(`p:${sub}`)
        if (vote) votes.push(parse<ApprovalVote>(vote))
      }
      const denial = state.get('denial')
      const revocation = state.get('revocation')
      const joinedSecrets: string[] = []
      const joined = Number(state.get('njoined') ?? 0)
      for (let n = 1; n <= joined; n++) {
        const secret = state.get(`j:${n}`)
        if (secret !== undefined) joinedSecrets.push(secret)
      }
      return {
        request,
        status: (state.get('status') ?? 'pending') as ApprovalStatus,
        votes,
        ...(denial ? { denial: parse<ApprovalDenial>(denial) } : {}),
        ...(revocation ? { revocation: parse<ApprovalRevocation>(revocation) } : {}),
        ...(joinedSecrets.length > 0 ? { joinedSecrets } : {}),
      }
    },

    async endRequests(scope: ApprovalScope, revocation: ApprovalRevocation): Promise<ApprovalRecord[]> {
      const index = scopeIndex(scope)
      const now = clock()
      const ids =
        index === null
          ? [(scope as { approvalId: string }).approvalId]
          : await run(() => redis.zrangebyscore(index, `(${now}`, '+inf'))
      const approver = 'approver' in scope ? scope.approver : ''
      const ended: ApprovalRecord[] = []
      const endOne = async (id: string): Promise<void> => {
        const record = await this.getRequest(id)
        if (!record) {
          if (index !== null) await run(() => redis.zrem(index, id))
          return
        }
        if (approver !== '' && !record.votes.some((v) => v.sub === approver)) return
        // Ensure the request is ended in one atomic step: no vote or redemption can interleave.
        const [outcome, status] = await run(() =>
          scripts.writApprovalEnd(keys.state(id), keys.votes(id), clock(), JSON.stringify(revocation), approver),
        )
        if (outcome === 'ended') {
          ended.push({ ...record, status: 'revoked', revocation })
          await deindex(record.request, id, 'closed')
        } else if (status === 'denied' || status === 'revoked') {
          await deindex(record.request, id, 'closed')
        }
      }
      for (let i = 0; i < ids.length; i += 64) await Promise.all(ids.slice(i, i + 64).map(endOne))
      return ended
    },

    async withdrawVotes(
      approvalId: string,
      credentialIds: string[],
      expectedVotes: number,
    ): Promise<WithdrawOutcome> {
      const [outcome, status] = await run(() =>
        scripts.writApprovalWithdraw(
          keys.state(approvalId),
          keys.votes(approvalId),
          clock(),
          expectedVotes,
          ...credentialIds,
        ),
      )
      switch (outcome) {
        case 'withdrawn': {
          // It waits for a human again: back in the pending index, where coalescing finds it.
          const request = await readRequest(approvalId)
          if (request) {
            await run(() =>
              scripts.writApprovalRepend(
                keys.pendingByClient(request.clientId),
                keys.coalesce(request.clientId, coalesceKey(request)),
                approvalId,
                request.expiresAt * 1000,
                pxUntil(request.expiresAt),
              ),
            )
          }
          return { outcome }
        }
        case 'conflict':
          return { outcome }
        case 'closed':
          return { outcome, status: status as ApprovalStatus | 'expired' | 'unknown' }
        default:
          throw storeUnavailable(new Error(`unexpected withdraw script reply ${String(outcome)}`))
      }
    },

    async putChallenge(approvalId: string, challenge: StoredChallenge): Promise<void> {
      if (challenge.exp * 1000 <= clock()) return
      await run(() =>
        redis.set(
          keys.challenge(approvalId, challenge.challenge),
          JSON.stringify(challenge),
          'PX',
          pxUntil(challenge.exp),
        ),
      )
    },

    async takeChallenge(approvalId: string, challenge: string): Promise<StoredChallenge | null> {
      // Ensure a challenge is used at most once across replicas: GETDEL reads and deletes it.
      const json = await run(() => redis.getdel(keys.challenge(approvalId, challenge)))
      if (!json) return null
      const found = parse<StoredChallenge>(json)
      return found.exp * 1000 > clock() ? found : null
    },

    async addVote(
      approvalId: string,
      vote: ApprovalVote,
      opts: { expectedVotes: number; completes: boolean },
    ): Promise<VoteOutcome> {
      const [outcome, status] = await run(() =>
        scripts.writApprovalVote(
          keys.state(approvalId),
          keys.votes(approvalId),
          clock(),
          vote.sub,
          vote.credentialId,
          JSON.stringify(vote),
          opts.expectedVotes,
          opts.completes ? '1' : '0',
        ),
      )
      switch (outcome) {
        case 'recorded': {
          if (status === 'approved') {
            // It waits for no human any more: out of the pending index (collecting keeps it open).
            const request = await readRequest(approvalId)
            if (request) await deindex(request, approvalId, 'decided')
          }
          return { outcome, status: status as ApprovalStatus }
        }
        case 'closed':
          return { outcome, status: status as ApprovalStatus | 'expired' | 'unknown' }
        case 'duplicate_approver':
        case 'duplicate_key':
        case 'conflict':
          return { outcome }
        default:
          throw storeUnavailable(new Error(`unexpected vote script reply ${String(outcome)}`))
      }
    },

    async deny(approvalId: string, denial: ApprovalDenial): Promise<DenyOutcome> {
      const [outcome, status] = await run(() =>
        scripts.writApprovalDeny(keys.state(approvalId), clock(), JSON.stringify(denial)),
      )
      if (outcome !== 'denied') return { outcome: 'closed', status: status as ApprovalStatus | 'expired' | 'unknown' }
      const request = await readRequest(approvalId)
      if (request) await deindex(request, approvalId, 'closed')
      return { outcome }
    },

    async recordPoll(approvalId: string): Promise<{ slowDown: boolean; intervalSeconds: number }> {
      const [slow, interval] = await run(() =>
        scripts.writApprovalPoll(keys.state(approvalId), clock(), MAX_POLL_INTERVAL_SECONDS),
      )
      return { slowDown: slow === 1, intervalSeconds: Number(interval) }
    },

    async redeem(approvalId: string): Promise<boolean> {
      // Ensure the token for an approval is minted at most once, across replicas.
      const redeemed = await run(() => scripts.writApprovalRedeem(keys.state(approvalId), clock()))
      // It stays in the open indexes until it expires: a revocation must still reach it while its
      // token is being minted (see `endRequests`).
      return redeemed === 1
    },

    async markExpired(approvalId: string): Promise<boolean> {
      // Ensure one caller, on any replica, reports the expiry.
      const marked = await run(() => scripts.writApprovalMarkExpired(keys.state(approvalId), clock()))
      return marked === 1
    },

    async putEvidence(evidence: ApprovalEvidence, retentionSeconds: number): Promise<void> {
      assertRetentionSeconds(retentionSeconds)
      await run(() =>
        redis.set(keys.evidence(evidence.approvalId), JSON.stringify(evidence), 'EX', retentionSeconds),
      )
    },

    async getEvidence(approvalId: string): Promise<ApprovalEvidence | null> {
      const json = await run(() => redis.get(keys.evidence(approvalId)))
      return json ? parse<ApprovalEvidence>(json) : null
    },

    async createInvite(invite: EnrolmentInvite): Promise<void> {
      if (invite.expiresAt * 1000 <= clock()) throw new RangeError('the invite has already expired')
      await run(() =>
        redis.set(keys.invite(invite.tokenSha256), JSON.stringify(invite), 'PX', pxUntil(invite.expiresAt)),
      )
    },

    async getInvite(tokenSha256: string): Promise<EnrolmentInvite | null> {
      const json = await run(() => redis.get(keys.invite(tokenSha256)))
      if (!json) return null
      const invite = parse<EnrolmentInvite>(json)
      return invite.expiresAt * 1000 > clock() ? invite : null
    },

    async putRegistrationChallenge(tokenSha256: string, challenge: RegistrationChallenge): Promise<void> {
      if (challenge.exp * 1000 <= clock()) return
      await run(() =>
        redis.set(
          keys.registrationChallenge(tokenSha256),
          JSON.stringify(challenge),
          'PX',
          pxUntil(challenge.exp),
        ),
      )
    },

    async takeRegistrationChallenge(tokenSha256: string): Promise<RegistrationChallenge | null> {
      // Ensure a registration challenge is used at most once.
      const json = await run(() => redis.getdel(keys.registrationChallenge(tokenSha256)))
      if (!json) return null
      const found = parse<RegistrationChallenge>(json)
      return found.exp * 1000 > clock() ? found : null
    },

    async enrol(invite: EnrolmentInvite, credential: ApproverCredential): Promise<EnrolOutcome> {
      assertCounter(credential.counter)
      // Ensure the invite is used once (consumed in the same step that stores the key).
      if (invite.expiresAt * 1000 <= clock()) return 'invite_used'
      return run(() =>
        scripts.writApproverEnrol(
          keys.invite(invite.tokenSha256),
          keys.credential(credential.id),
          keys.approverCredentials(credential.sub),
          keys.allCredentials(),
          JSON.stringify(invite),
          JSON.stringify(credential),
          credential.counter,
          credential.id,
        ),
      )
    },

    async getCredential(credentialId: string): Promise<ApproverCredentialState | null> {
      const [found] = await readCredentials([credentialId])
      return found ?? null
    },

    async listCredentials(filter: { sub?: string } = {}): Promise<ApproverCredentialState[]> {
      const index = filter.sub === undefined ? keys.allCredentials() : keys.approverCredentials(filter.sub)
      const ids = await run(() => redis.smembers(index))
      return (await readCredentials(ids)).sort(compareCredentials)
    },

    async useCredential(credentialId: string, counter: number, flag: CredentialFlag): Promise<CredentialUse> {
      assertCounter(counter)
      // Ensure the counter check and the update are one step, so two assertions cannot both pass.
      return run(() =>
        scripts.writApproverUse(keys.credential(credentialId), counter, JSON.stringify(flag)),
      )
    },

    async flagCredential(credentialId: string, flag: CredentialFlag): Promise<boolean> {
      const done = await run(() => scripts.writApproverFlag(keys.credential(credentialId), JSON.stringify(flag)))
      return done === 1
    },

    async listPending(limit = 1000): Promise<ApprovalRecord[]> {
      const now = clock()
      const out: ApprovalRecord[] = []
      let offset = 0
      // The open index also holds approved requests not yet collected; skip past them.
      while (out.length < limit) {
        const ids = await run(() => redis.zrangebyscore(keys.openAll(), `(${now}`, '+inf', 'LIMIT', offset, 256))
        let kept = 0
        for (const id of ids) {
          const record = await this.getRequest(id)
          // Requests that are gone or decided leave the index lazily (a redeemed one stays until it
          // expires, for a revocation racing its minting to find it).
          if (!record) await run(() => redis.zrem(keys.openAll(), id))
          else if (record.status === 'denied' || record.status === 'revoked') {
            await deindex(record.request, id, 'closed')
          } else {
            kept++
            if (record.status === 'pending' && out.length < limit) out.push(record)
          }
        }
        if (ids.length < 256) break
        offset += kept
      }
      return out
    },

    async ping(): Promise<void> {
      await run(async () => {
        if (redis.status !== 'ready') throw new Error(`the Redis connection is ${redis.status}`)
        await redis.ping()
      })
    },

    async close(): Promise<void> {
      closed = true
    },
  }
}
