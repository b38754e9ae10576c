import { randomBytes } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { createBroker, type Broker } from '../../src/broker.js'
import { parseConfig } from '../../src/config.js'
import { silentLogger } from '../../src/logger.js'
import { testPolicyText } from '../helpers/broker.js'

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const prefix = `writ-bootstrap-${randomBytes(4).toString('hex')}:`
const brokers: Broker[] = []

afterAll(async () => {
  for (const b of brokers) await b.close()
  const { default: Redis } = await import('ioredis')
  const redis = new Redis(redisUrl)
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length) await redis.del(...keys)
  await redis.quit()
})

async function start(): Promise<Broker> {
  const config = parseConfig({
    issuer: 'https://writ.test',
    store: { kind: 'redis', redisUrl, keyPrefix: prefix },
    keys: { source: 'store', kek: Buffer.alloc(32, 3).toString('base64') },
  })
  const broker = await createBroker(config, { logger: silentLogger, policyText: (await testPolicyText()) })
  brokers.push(broker)
  return broker
}

const keysWith = (b: Broker, token: string) =>
  b.app.request('https://writ.test/admin/keys', { headers: { authorization: `Bearer ${token}` } })

describe('admin token bootstrap on a persistent store', () => {
  it('creates one token on the first start, shows it once, and every later replica honours it', async () => {
    const first = await start()
    expect(first.adminToken).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const second = await start()
    expect(second.adminToken).toBeUndefined()
    for (const b of [first, second]) expect((await keysWith(b, first.adminToken!)).status).toBe(200)
    expect((await keysWith(second, 'guess')).status).toBe(401)
    // Only the hash is in the store.
    const { default: Redis } = await import('ioredis')
    const redis = new Redis(redisUrl)
    const stored = await redis.get(`${prefix}setting:admin-token-hash`)
    await redis.quit()
    expect(stored).toMatch(/^\$argon2id\$/)
    expect(stored).not.toContain(first.adminToken)
  })
})
