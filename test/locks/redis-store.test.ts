import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, expect } from 'vitest'
import { systemClock } from '../../src/clock.js'
import { createRedisStore } from '../../src/open-store.js'
import { describeLockStoreContract } from './store-contract.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
/** Every key this run writes lives under this prefix, and is deleted in afterAll. */
const PREFIX = `writ-test-${randomBytes(6).toString('hex')}:`
const admin = new Redis(REDIS_URL)

afterAll(async () => {
  const found = await admin.keys(`${PREFIX}*`)
  if (found.length > 0) await admin.del(...found)
  expect(await admin.keys(`${PREFIX}*`)).toEqual([])
  await admin.quit()
})

describeLockStoreContract('redis', async () => {
  const store = createRedisStore({ url: REDIS_URL, keyPrefix: PREFIX, commandTimeoutMs: 1000, clock: systemClock })
  return { store, cleanup: () => store.close() }
})
