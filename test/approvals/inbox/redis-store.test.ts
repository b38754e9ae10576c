import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, expect, it } from 'vitest'
import { createRedisInboxStore } from '../../../src/approvals/inbox/redis-store.js'
import { manualClock } from '../../../src/clock.js'
import { describeInboxStoreContract } from './store-contract.js'
import { deleteKeysWithPrefix } from '../../helpers/redis.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
/** Every key this file writes lives under this prefix, and is deleted in afterAll. */
const RUN_PREFIX = `writ-test-${randomBytes(6).toString('hex')}:`
const redis = new Redis(REDIS_URL)
let count = 0

afterAll(async () => {
  await deleteKeysWithPrefix(redis, RUN_PREFIX)
  expect(await redis.keys(`${RUN_PREFIX}*`)).toEqual([])
  await redis.quit()
})

describeInboxStoreContract('redis', async () => {
  const clock = manualClock(Date.now())
  return { store: createRedisInboxStore({ redis, keyPrefix: `${RUN_PREFIX}i${++count}:`, clock }), clock }
})

it('keeps only the SHA-256 a session is stored under, with a TTL equal to its life', async () => {
  const clock = manualClock(Date.now())
  const prefix = `${RUN_PREFIX}ttl:`
  const store = createRedisInboxStore({ redis, keyPrefix: prefix, clock })
  const now = Math.floor(clock() / 1000)
  await store.putSession('d'.repeat(64), { sub: 'a@example.com', credentialId: 'k', createdAt: now, expiresAt: now + 600 })
  await store.putChallenge({ challenge: 'ch-ttl', nonce: 'n', exp: now + 180 })
  const keys = (await redis.keys(`${prefix}*`)).sort()
  expect(keys).toEqual([`${prefix}inbox:ch:ch-ttl`, `${prefix}inbox:ses:${'d'.repeat(64)}`])
  const sessionTtl = await redis.pttl(`${prefix}inbox:ses:${'d'.repeat(64)}`)
  expect(sessionTtl).toBeGreaterThan(590_000)
  expect(sessionTtl).toBeLessThanOrEqual(600_000)
  const challengeTtl = await redis.pttl(`${prefix}inbox:ch:ch-ttl`)
  expect(challengeTtl).toBeGreaterThan(170_000)
  expect(challengeTtl).toBeLessThanOrEqual(180_000)
})
