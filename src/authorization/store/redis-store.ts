import type { Redis } from 'ioredis'
import { sharedClientRunner, type SharedRedisClientOptions } from '../../store/shared-redis-client.js'
import { DEFAULT_KEY_PREFIX, encodeKeyPart } from '../../wire/keys.js'
import type { AuthorizationCode, AuthorizationRequest, ConsentChallenge } from '../types.js'
import type { AuthorizationStore } from './store.js'

export type RedisAuthorizationStoreOptions = SharedRedisClientOptions

/**
 * The Redis authorization store. Keys, under the grant store's prefix (each id encoded with
 * `encodeKeyPart`, each record in one hash tag so every step runs on one Redis Cluster slot):
 *
 * ```text
 * <p>{az:<id>}:req               authorization request JSON, PX = until it expires
 * <p>{az:<id>}:ch:<challenge>    consent challenge JSON, PX = the challenge's life
 * <p>{azc:<sha256>}:code         code record JSON, PX = the retention period
 * <p>{azc:<sha256>}:link         hash { grant, replayed }, PX = the retention period
 * ```
 *
 * Taking a request or a challenge is GETDEL; linking a grant and marking a replay are each one
 * MULTI on the one link key (set one field, read the other), so they see each other in order.
 */
export function createRedisAuthorizationStore(options: RedisAuthorizationStoreOptions): AuthorizationStore {
  const { redis, clock } = options
  const prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX
  if (prefix.includes('{') || prefix.includes('}')) throw new TypeError('the store key prefix must not contain "{" or "}"')
  const request = (id: string): string => `${prefix}{az:${encodeKeyPart(id)}}:req`
  const challengeKey = (id: string, challenge: string): string =>
    `${prefix}{az:${encodeKeyPart(id)}}:ch:${encodeKeyPart(challenge)}`
  const code = (hash: string): string => `${prefix}{azc:${encodeKeyPart(hash)}}:code`
  const link = (hash: string): string => `${prefix}{azc:${encodeKeyPart(hash)}}:link`

  const run = sharedClientRunner(options)
  const pxUntil = (atSeconds: number): number => Math.max(1, Math.ceil(atSeconds * 1000 - clock()))
  const retentionMs = (seconds: number): number => {
    if (!Number.isInteger(seconds) || seconds <= 0) throw new RangeError('retentionSeconds must be a positive integer')
    return seconds * 1000
  }
  const parse = <T>(json: string | null): T | null => (json === null ? null : (JSON.parse(json) as T))
  /** Runs one MULTI; its replies, or a store failure. */
  const exec = async (multi: ReturnType<Redis['multi']>): Promise<unknown[]> => {
    const replies = await multi.exec()
    if (!replies) throw new Error('the transaction was aborted')
    return replies.map(([err, value]) => {
      if (err) throw err
      return value
    })
  }

  return {
    async putRequest(req) {
      await run(() => redis.set(request(req.id), JSON.stringify(req), 'PX', pxUntil(req.expiresAt)))
    },
    async getRequest(id) {
      const found = parse<AuthorizationRequest>(await run(() => redis.get(request(id))))
      return found && found.expiresAt * 1000 > clock() ? found : null
    },
    async takeRequest(id) {
      // Ensure a request is decided at most once across replicas: GETDEL reads and deletes it.
      const found = parse<AuthorizationRequest>(await run(() => redis.getdel(request(id))))
      return found && found.expiresAt * 1000 > clock() ? found : null
    },
    async putChallenge(id, challenge) {
      await run(() => redis.set(challengeKey(id, challenge.challenge), JSON.stringify(challenge), 'PX', pxUntil(challenge.exp)))
    },
    async takeChallenge(id, challenge) {
      const found = parse<ConsentChallenge>(await run(() => redis.getdel(challengeKey(id, challenge))))
      return found && found.exp * 1000 > clock() ? found : null
    },
    async putCode(hash, record, retentionSeconds) {
      const px = retentionMs(retentionSeconds)
      await run(() => redis.set(code(hash), JSON.stringify(record), 'PX', px))
    },
    async getCode(hash) {
      return parse<AuthorizationCode>(await run(() => redis.get(code(hash))))
    },
    async linkGrant(hash, grantId, retentionSeconds) {
      const px = retentionMs(retentionSeconds)
      const key = link(hash)
      const replies = await run(() =>
        exec(redis.multi().hset(key, 'grant', grantId).hget(key, 'replayed').pexpire(key, px) as ReturnType<Redis['multi']>),
      )
      return { replayed: replies[1] === '1' }
    },
    async markReplayed(hash, retentionSeconds) {
      const px = retentionMs(retentionSeconds)
      const key = link(hash)
      const replies = await run(() =>
        exec(redis.multi().hset(key, 'replayed', '1').hget(key, 'grant').pexpire(key, px) as ReturnType<Redis['multi']>),
      )
      const grantId = replies[1]
      return typeof grantId === 'string' ? { grantId } : {}
    },
  }
}
