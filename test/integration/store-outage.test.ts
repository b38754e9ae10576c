import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docsManifest, form, json, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'
import { startRedis } from '../helpers/redis.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
let redis: Awaited<ReturnType<typeof startRedis>>
let broker: TestBroker

beforeAll(async () => {
  redis = await startRedis()
  broker = await makeTestBroker({
    config: {
      store: { kind: 'redis', redisUrl: redis.url, keyPrefix: 'writ-outage:', commandTimeoutMs: 500 },
      keys: { source: 'store', kek: randomBytes(32).toString('base64') },
    },
  })
})
afterAll(async () => {
  await broker?.close()
  await redis?.stop()
})

const issue = () => broker.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })

async function waitUntilReady(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if ((await broker.app.request('https://writ.test/readyz')).status === 200) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('broker did not become ready again')
}

describe('grant store outage (real Redis, stopped mid-test)', () => {
  it('fails closed with 503 + Retry-After, then recovers by itself when Redis is back', async () => {
    const before = await issue()
    expect(before.status).toBe(200)
    const { access_token } = await before.json()

    await redis.stop()

    const during = await issue()
    expect(during.status).toBe(503)
    expect(Number(during.headers.get('retry-after'))).toBeGreaterThan(0)
    const body = await during.json()
    expect(body.error).toBe('temporarily_unavailable')
    expect(JSON.stringify(body)).not.toContain('access_token')

    const ready = await broker.call('GET', '/readyz')
    expect(ready.status).toBe(503)
    // Introspection must not guess: no store, no answer.
    const probe = await broker.call('POST', '/oauth/introspect', { ...form({ token: access_token }), basic: A })
    expect(probe.status).toBe(503)

    await redis.restart()
    await waitUntilReady(10_000)

    const after = await issue()
    expect(after.status).toBe(200)
    // Redis came back empty (no persistence): the allow-list fails safe, the old token is dead.
    const old = await broker.call('POST', '/oauth/introspect', { ...form({ token: access_token }), basic: A })
    expect(await old.json()).toEqual({ active: false })
  })
})
