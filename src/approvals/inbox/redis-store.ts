import { sharedClientRunner, type SharedRedisClientOptions } from '../../store/shared-redis-client.js'
import { DEFAULT_KEY_PREFIX, encodeKeyPart } from '../../wire/keys.js'
import type { ApproverSession, InboxStore, SignInChallenge } from './store.js'

export type RedisInboxStoreOptions = SharedRedisClientOptions

/**
 * The Redis inbox store. Keys, under the grant store's prefix (each id encoded with
 * `encodeKeyPart`; every command touches one key, so any Cluster slot will do):
 *
 * ```text
 * <p>inbox:ch:<challenge>        sign-in challenge JSON, PX = the challenge's life
 * <p>inbox:ses:<token sha256>    session JSON, PX = the session's life
 * ```
 *
 * Taking a challenge is GETDEL: one replica gets it, once.
 */
export function createRedisInboxStore(options: RedisInboxStoreOptions): InboxStore {
  const { redis, clock } = options
  const prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX
  const challengeKey = (challenge: string): string => `${prefix}inbox:ch:${encodeKeyPart(challenge)}`
  const sessionKey = (hash: string): string => `${prefix}inbox:ses:${encodeKeyPart(hash)}`
  const run = sharedClientRunner(options)
  const pxUntil = (atSeconds: number): number => Math.ceil(atSeconds * 1000 - clock())
  const live = (atSeconds: number): boolean => atSeconds * 1000 > clock()

  return {
    async putChallenge(challenge: SignInChallenge) {
      if (!live(challenge.exp)) return
      await run(() => redis.set(challengeKey(challenge.challenge), JSON.stringify(challenge), 'PX', pxUntil(challenge.exp)))
    },
    async takeChallenge(challenge: string) {
      // Ensure a sign-in challenge is used at most once across replicas: GETDEL reads and deletes it.
      const json = await run(() => redis.getdel(challengeKey(challenge)))
      if (!json) return null
      const found = JSON.parse(json) as SignInChallenge
      return live(found.exp) ? found : null
    },
    async putSession(tokenSha256: string, session: ApproverSession) {
      if (!live(session.expiresAt)) return
      await run(() => redis.set(sessionKey(tokenSha256), JSON.stringify(session), 'PX', pxUntil(session.expiresAt)))
    },
    async getSession(tokenSha256: string) {
      const json = await run(() => redis.get(sessionKey(tokenSha256)))
      if (!json) return null
      const found = JSON.parse(json) as ApproverSession
      return live(found.expiresAt) ? found : null
    },
    async deleteSession(tokenSha256: string) {
      await run(() => redis.del(sessionKey(tokenSha256)))
    },
  }
}
