import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docsManifest, form, json, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const config = {
  store: { kind: 'redis' as const, redisUrl, keyPrefix: `writ-replicas-${randomBytes(4).toString('hex')}:` },
  keys: { source: 'store' as const, kek: randomBytes(32).toString('base64') },
}
let one: TestBroker
let two: TestBroker

beforeAll(async () => {
  // Two replicas starting at once must converge on one key set.
  ;[one, two] = await Promise.all([makeTestBroker({ config }), makeTestBroker({ config })])
})
afterAll(async () => {
  await one?.close()
  await two?.close()
  const { default: Redis } = await import('ioredis')
  const redis = new Redis(redisUrl)
  const keys = await redis.keys(`${config.store.keyPrefix}*`)
  if (keys.length) await redis.del(...keys)
  await redis.quit()
})

const jwks = async (b: TestBroker) => (await b.call('GET', '/.well-known/jwks.json')).json()

describe('two broker replicas on one Redis', () => {
  it('publish the same JWKS and honour each other’s tokens and revocations', async () => {
    expect(await jwks(one)).toEqual(await jwks(two))
    const issued = await one.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })
    const { access_token } = await issued.json()
    const seen = await two.call('POST', '/oauth/introspect', { ...form({ token: access_token }), basic: A })
    expect((await seen.json()).active).toBe(true)
    await two.call('POST', '/oauth/revoke', { ...form({ token: access_token }), basic: A })
    const after = await one.call('POST', '/oauth/introspect', { ...form({ token: access_token }), basic: A })
    expect(await after.json()).toEqual({ active: false })
  })

  it('serve a rotation made on one replica from the other after a refresh, without a restart', async () => {
    const before = await jwks(two)
    await one.keys.rotate({ force: true })
    await two.keys.refresh()
    const after = await jwks(two)
    expect(after).toEqual(await jwks(one))
    expect(after).not.toEqual(before)
    // A token signed by one's new current key verifies on two.
    const issued = await one.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })
    const { access_token } = await issued.json()
    const seen = await two.call('POST', '/oauth/introspect', { ...form({ token: access_token }), basic: A })
    expect((await seen.json()).active).toBe(true)
  })

  it('take a compromised-key rotation made on one replica at once, with no refresh', async () => {
    const withdrawn = (await jwks(two)).keys.map((k: { kid: string }) => k.kid)
    const started = Date.now()
    await one.keys.rotate({ compromised: true })
    const fresh = (await jwks(one)).keys.map((k: { kid: string }) => k.kid)
    // The announcement makes the other replica re-read the store: well before its 30 s refresh.
    await expect
      .poll(async () => (await jwks(two)).keys.map((k: { kid: string }) => k.kid), { timeout: 3_000, interval: 20 })
      .toEqual(fresh)
    expect(Date.now() - started).toBeLessThan(3_000)
    for (const kid of withdrawn) expect(fresh).not.toContain(kid)
    // A token of the fresh key is active at the other replica.
    const issued = await one.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })
    const { access_token } = await issued.json()
    const seen = await two.call('POST', '/oauth/introspect', { ...form({ token: access_token }), basic: A })
    expect((await seen.json()).active).toBe(true)
  })
})
