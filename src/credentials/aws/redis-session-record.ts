import type { Cluster, Redis } from 'ioredis'
import type { Clock } from '../../clock.js'
import { storeUnavailable, WritError } from '../../errors.js'
import { encodeKeyPart } from '../../wire/keys.js'
import type {
  AwsSessionRecord,
  DeniedSession,
  DenyEntries,
  RoleDenyState,
  VendedSession,
} from './session-record.js'

/**
 * Keys, all under the grant store's prefix and one hash tag (`{aws}`: one Cluster slot, so a
 * script may touch several):
 *
 * ```text
 * <p>{aws}:g:<grant>       hash { c: client id, r:<role arn>: session expiry (s) },
 *                          PX = its latest session's remaining life
 * <p>{aws}:sessions        zset of JSON [grant, client, role], scored by session expiry (ms)
 * <p>{aws}:deny:<role>     hash { version, applied, data: DenyEntries JSON }: the role's deny state
 * ```
 */
function awsKeys(prefix: string) {
  return {
    grant: (grantId: string) => `${prefix}{aws}:g:${encodeKeyPart(grantId)}`,
    sessions: () => `${prefix}{aws}:sessions`,
    deny: (roleArn: string) => `${prefix}{aws}:deny:${encodeKeyPart(roleArn)}`,
  }
}

/**
 * KEYS: grant hash, sessions index. ARGV: role field, client id, expiry (s), index member,
 * expiry (ms), now (ms). Keeps the later expiry; keys live as long as their latest session.
 */
const RECORD_SESSION_LUA = `
redis.call('HSET', KEYS[1], 'c', ARGV[2])
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[3]) > current then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[6])
redis.call('ZADD', KEYS[2], 'GT', ARGV[5], ARGV[4])
local life = tonumber(ARGV[5]) - tonumber(ARGV[6])
for i = 1, 2 do
  if redis.call('PTTL', KEYS[i]) < life then
    redis.call('PEXPIRE', KEYS[i], string.format('%.0f', life))
  end
end
return 1
`

/** KEYS: deny hash. ARGV: expected version, data. Returns the new version or 0. */
const PUT_DENY_LUA = `
local current = redis.call('HGET', KEYS[1], 'version') or '0'
if current ~= ARGV[1] then
  return 0
end
local version = tonumber(current) + 1
redis.call('HSET', KEYS[1], 'version', string.format('%.0f', version), 'data', ARGV[2])
return version
`

/** KEYS: deny hash. ARGV: version. Marks it applied when it is still current. */
const MARK_APPLIED_LUA = `
if (redis.call('HGET', KEYS[1], 'version') or '0') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'applied', ARGV[1])
  return 1
end
return 0
`

interface Scripts {
  writAwsRecordSession(...args: Array<string | number>): Promise<number>
  writAwsPutDeny(...args: Array<string | number>): Promise<number>
  writAwsMarkApplied(...args: Array<string | number>): Promise<number>
}

export interface RedisSessionRecordOptions {
  /** The store's client (`RedisBackend.redis`), configured to fail fast. */
  redis: Redis | Cluster
  /** The grant store's key prefix. */
  keyPrefix: string
  clock: Clock
  /** Longest wait for the client's first connection before calls fail. Default 1000. */
  connectTimeoutMs?: number
}

const ROLE_FIELD = 'r:'

/**
 * Reads stored deny entries. Entries stored before writ recorded each session's client hold a
 * bare expiry: they are kept, with an unknown (empty) client.
 */
function parseDenyEntries(data: string): DenyEntries {
  const stored = JSON.parse(data) as Omit<DenyEntries, 'sessions'> & {
    sessions: Record<string, DeniedSession | number>
  }
  const sessions: Record<string, DeniedSession> = {}
  for (const [name, value] of Object.entries(stored.sessions)) {
    sessions[name] = typeof value === 'number' ? { client: '', until: value } : value
  }
  return { ...stored, sessions }
}

/**
 * The Redis {@link AwsSessionRecord}, shared by every broker replica. Uses the grant store's
 * client and prefix; each write is one atomic script. Times are the broker's clock, as in the
 * grant store.
 */
export function createRedisSessionRecord(options: RedisSessionRecordOptions): AwsSessionRecord {
  const { redis, clock } = options
  const keys = awsKeys(options.keyPrefix)
  redis.defineCommand('writAwsRecordSession', { numberOfKeys: 2, lua: RECORD_SESSION_LUA })
  redis.defineCommand('writAwsPutDeny', { numberOfKeys: 1, lua: PUT_DENY_LUA })
  redis.defineCommand('writAwsMarkApplied', { numberOfKeys: 1, lua: MARK_APPLIED_LUA })
  const scripts = redis as unknown as Scripts
  const connectTimeoutMs = options.connectTimeoutMs ?? 1000
  let everReady = redis.status === 'ready'

  /** Before the client's first connection, waits (bounded) for it; afterwards fails fast. */
  const firstConnection = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer)
        redis.off('ready', onReady)
        if (err) reject(err)
        else resolve()
      }
      const onReady = (): void => done()
      const timeout = (): void =>
        done(new Error(`no connection to Redis within ${connectTimeoutMs} ms`))
      const timer = setTimeout(timeout, connectTimeoutMs)
      redis.once('ready', onReady)
      if (redis.status === 'wait') redis.connect().catch(() => {})
    })

  /** Runs Redis I/O; anything that goes wrong there means the record is unavailable. */
  const run = async <T>(op: () => Promise<T>): Promise<T> => {
    try {
      if (!everReady && redis.status !== 'ready') await firstConnection()
      everReady = true
      return await op()
    } catch (err) {
      throw err instanceof WritError ? err : storeUnavailable(err)
    }
  }

  const parseGrant = (
    grantId: string,
    hash: Record<string, string>,
    nowSeconds: number,
  ): VendedSession[] => {
    const clientId = hash.c
    if (clientId === undefined) return []
    const out: VendedSession[] = []
    for (const [field, value] of Object.entries(hash)) {
      if (!field.startsWith(ROLE_FIELD)) continue
      const expiresAt = Number(value)
      if (expiresAt <= nowSeconds) continue
      out.push({ grantId, clientId, roleArn: field.slice(ROLE_FIELD.length), expiresAt })
    }
    return out
  }

  return {
    async recordSession(session) {
      const now = clock()
      await run(() =>
        scripts.writAwsRecordSession(
          keys.grant(session.grantId),
          keys.sessions(),
          ROLE_FIELD + session.roleArn,
          session.clientId,
          String(session.expiresAt),
          JSON.stringify([session.grantId, session.clientId, session.roleArn]),
          String(session.expiresAt * 1000),
          String(now),
        ),
      )
    },

    async sessionsOf(grantIds) {
      const ids = [...new Set(grantIds)]
      if (ids.length === 0) return []
      const replies = await run(async () => {
        const pipeline = redis.pipeline()
        for (const id of ids) pipeline.hgetall(keys.grant(id))
        const results = (await pipeline.exec()) ?? []
        return results.map(([err, value]) => {
          if (err) throw err
          return value as Record<string, string>
        })
      })
      const now = clock() / 1000
      return ids.flatMap((id, i) => parseGrant(id, replies[i] ?? {}, now))
    },

    async listSessions() {
      const now = clock()
      const members = await run(() =>
        redis.zrange(keys.sessions(), `(${now}`, '+inf', 'BYSCORE', 'WITHSCORES'),
      )
      const out: VendedSession[] = []
      for (let i = 0; i + 1 < members.length; i += 2) {
        const [grantId, clientId, roleArn] = JSON.parse(members[i]!) as [string, string, string]
        out.push({ grantId, clientId, roleArn, expiresAt: Number(members[i + 1]) / 1000 })
      }
      return out
    },

    async getDenyState(roleArn): Promise<RoleDenyState> {
      const [version, applied, data] = await run(() =>
        redis.hmget(keys.deny(roleArn), 'version', 'applied', 'data'),
      )
      const entries = data ? parseDenyEntries(data) : { sessions: {} }
      return { ...entries, version: Number(version ?? 0), appliedVersion: Number(applied ?? 0) }
    },

    async putDenyState(roleArn, entries, expectedVersion) {
      const data: DenyEntries = {
        sessions: entries.sessions,
        ...(entries.clientCutoffs ? { clientCutoffs: entries.clientCutoffs } : {}),
        ...(entries.cutoff ? { cutoff: entries.cutoff } : {}),
      }
      // Ensure the writer saw the current version (compare-and-set), so no revocation is lost.
      const version = await run(() =>
        scripts.writAwsPutDeny(keys.deny(roleArn), String(expectedVersion), JSON.stringify(data)),
      )
      return version > 0
    },

    async markApplied(roleArn, version) {
      await run(() => scripts.writAwsMarkApplied(keys.deny(roleArn), String(version)))
    },
  }
}
