import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createRedisAuthorizationStore } from '../../../src/authorization/store/redis-store.js'
import { manualClock } from '../../../src/clock.js'
import type { RedisBackend } from '../../../src/store/redis-backend.js'
import { createRedisStore, type Store } from '../../../src/open-store.js'
import { enrol } from '../../approvals/helpers.js'
import { authorizeQuery, consentOptions, makeAuthorizationBroker, pkce, startRequest, submitConsent } from '../helpers.js'
import { describeAuthorizationStoreContract } from '../store-contract.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
/** Every key this file writes lives under this prefix, and is deleted in afterAll. */
const RUN_PREFIX = `writ-test-${randomBytes(6).toString('hex')}:`
const admin = new Redis(REDIS_URL)
let count = 0
const opened: Store<RedisBackend>[] = []

function grantStore(clock: ReturnType<typeof manualClock>): Store<RedisBackend> {
  const store = createRedisStore({ url: REDIS_URL, keyPrefix: `${RUN_PREFIX}a${++count}:`, clock })
  opened.push(store)
  return store
}

afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()))
  let cursor = '0'
  do {
    const [next, found] = await admin.scan(cursor, 'MATCH', `${RUN_PREFIX}*`, 'COUNT', 500)
    if (found.length > 0) await admin.del(...found)
    cursor = next
  } while (cursor !== '0')
  expect(await admin.keys(`${RUN_PREFIX}*`)).toEqual([])
  await admin.quit()
})

describeAuthorizationStoreContract('redis', async () => {
  const clock = manualClock(Date.now())
  const grants = grantStore(clock)
  await grants.ping()
  const store = createRedisAuthorizationStore({ redis: grants.backend.redis, keyPrefix: grants.backend.keys.prefix, clock })
  return { store, clock, cleanup: async () => undefined }
})

describe('a broker on Redis', () => {
  it('refuses a consent to a request that was altered in the store after its challenge was issued', async () => {
    const clock = manualClock(Date.now())
    const broker = await makeAuthorizationBroker({ store: grantStore(clock) })
    try {
      const alice = broker.authenticator()
      await enrol(broker, alice, 'alice@example.com', 'release-managers')
      const id = await startRequest(broker, authorizeQuery(pkce().challenge))
      const options = await consentOptions(broker, id)
      // Someone with write access to Redis widens the grants of the pending request.
      const key = `${opened.at(-1)!.backend.keys.prefix}{az:${id}}:req`
      const stored = JSON.parse((await admin.get(key))!)
      stored.grants[0].identifier = '**'
      await admin.set(key, JSON.stringify(stored), 'PX', 60_000)
      const res = await submitConsent(broker, id, alice.assert(options))
      expect(res.status).toBe(403)
      expect((await res.json()).error).toBe('access_denied')
    } finally {
      await broker.close()
    }
  })
})
