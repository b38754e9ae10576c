import { randomBytes } from 'node:crypto'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVerifier, type Verifier, VerifierError } from '../../src/verifier/index.js'
import { docsManifest, form, ISSUER, json, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'
import { startLatencyProxy, type LatencyProxy } from '../helpers/latency-proxy.js'
import { startRedis, type PrivateRedis } from '../helpers/redis.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
const AUDIENCE = 'https://git.example.com/acme/app'
const PREFIX = 'writ-faults:'

async function redisBroker(url: string, commandTimeoutMs: number): Promise<TestBroker> {
  return makeTestBroker({
    config: {
      store: { kind: 'redis', redisUrl: url, keyPrefix: PREFIX, commandTimeoutMs },
      keys: { source: 'store', kek: randomBytes(32).toString('base64') },
    },
  })
}

const issue = (broker: TestBroker) => broker.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })

/** Polls /readyz until the broker says it can issue again (the store is reachable). */
async function waitUntilReady(broker: TestBroker): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await broker.app.request(`${ISSUER}/readyz`)).status === 200) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('the broker did not become ready again')
}

describe('Redis frozen or lost (a private redis-server)', () => {
  let redis: PrivateRedis
  let broker: TestBroker
  beforeAll(async () => {
    redis = await startRedis()
    broker = await redisBroker(redis.url, 300)
  })
  afterAll(async () => {
    redis?.resume()
    await broker?.close()
    await redis?.stop()
  })

  it('frozen during issuance: every token handed out has its grant recorded, the rest are 503; then recovers', async () => {
    expect((await issue(broker)).status).toBe(200)
    const racing = Array.from({ length: 10 }, () => issue(broker))
    await new Promise((r) => setImmediate(r))
    redis.pause()
    const whileFrozen = await Promise.all(Array.from({ length: 5 }, () => issue(broker)))
    const all = [...(await Promise.all(racing)), ...whileFrozen]
    for (const res of whileFrozen) {
      expect(res.status).toBe(503)
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    }
    const tokens: string[] = []
    for (const res of all) {
      expect([200, 503]).toContain(res.status)
      const body = await res.json()
      if (res.status === 200) tokens.push(body.access_token)
      else expect(body.error).toBe('temporarily_unavailable')
    }
    redis.resume()
    await waitUntilReady(broker)
    // Ensure no token left the broker without its grant recorded first.
    for (const token of tokens) {
      const { jti } = decodeJwt(token)
      expect((await broker.store.grants.getGrant('agent-a', jti!)).state).toBe('live')
    }
    expect((await issue(broker)).status).toBe(200)
  })

  it('restarted empty (no persistence): every outstanding token stops verifying, in every verifier', async () => {
    const tokens: string[] = []
    for (let i = 0; i < 5; i++) tokens.push((await (await issue(broker)).json()).access_token)
    const jwks = await (await broker.call('GET', '/.well-known/jwks.json')).json()
    const base = { issuer: ISSUER, audience: AUDIENCE, jwks, clock: broker.clock }
    const viaRedis: Verifier = createVerifier({
      ...base,
      liveness: { mode: 'redis', redis: redis.url, keyPrefix: PREFIX, commandTimeoutMs: 300, heartbeatMs: 100 },
    })
    const viaIntrospection: Verifier = createVerifier({
      ...base,
      liveness: {
        mode: 'introspection',
        endpoint: `${ISSUER}/oauth/introspect`,
        clientId: A[0],
        clientSecret: A[1],
        cacheTtlSeconds: 5,
      },
      fetch: async (input, init) => broker.app.request(input instanceof Request ? input : String(input), init),
    })
    try {
      // Both confirm every token (and cache the confirmations).
      for (const token of tokens) {
        await viaRedis.verify(token)
        await viaIntrospection.verify(token)
      }

      await redis.restart()
      await waitUntilReady(broker)
      // The introspection cache is trusted for its TTL by design; let it lapse.
      broker.clock.advance(6000)

      for (const token of tokens) {
        const introspected = await broker.call('POST', '/oauth/introspect', { ...form({ token }), basic: A })
        expect(await introspected.json()).toEqual({ active: false })
        for (const verifier of [viaRedis, viaIntrospection]) {
          // Ensure the token is never accepted again: unavailable while reconnecting, then revoked.
          let code: string | undefined
          for (let i = 0; i < 100 && code !== 'token_revoked'; i++) {
            const err = await verifier.verify(token).then(
              () => undefined,
              (e: unknown) => e,
            )
            expect(err, 'an outstanding token verified after Redis lost its data').toBeInstanceOf(VerifierError)
            code = (err as VerifierError).code
            if (code !== 'token_revoked') await new Promise((r) => setTimeout(r, 50))
          }
          expect(code).toBe('token_revoked')
        }
      }
      // New tokens work at once, with no broker restart.
      const fresh = (await (await issue(broker)).json()).access_token
      expect((await viaRedis.verify(fresh)).client_id).toBe('agent-a')
    } finally {
      await viaRedis.close()
      await viaIntrospection.close()
    }
  })
})

describe('a slow network to Redis (a latency proxy)', () => {
  let redis: PrivateRedis
  let proxy: LatencyProxy
  let broker: TestBroker
  beforeAll(async () => {
    redis = await startRedis()
    proxy = await startLatencyProxy(redis.port)
    broker = await redisBroker(proxy.url, 200)
  })
  afterAll(async () => {
    await broker?.close()
    await proxy?.close()
    await redis?.stop()
  })

  it('answers 503 within its timeouts instead of queueing, and recovers with replies matched to requests', async () => {
    expect((await issue(broker)).status).toBe(200)
    const connectionsBefore = proxy.connections

    // Replies now arrive long after the broker stopped waiting for them.
    proxy.setLatency(1500)
    const slow = await Promise.all(Array.from({ length: 20 }, () => issue(broker)))
    for (const res of slow) {
      expect(res.status).toBe(503)
      expect((await res.json()).error).toBe('temporarily_unavailable')
    }
    expect((await broker.call('GET', '/readyz')).status).toBe(503)
    // Timeouts did not turn into a storm of new connections.
    expect(proxy.connections - connectionsBefore).toBeLessThanOrEqual(3)

    proxy.setLatency(0)
    await waitUntilReady(broker)
    // Late replies to abandoned commands must not be taken as answers to new ones.
    for (let i = 0; i < 10; i++) {
      const res = await issue(broker)
      expect(res.status).toBe(200)
      const token = (await res.json()).access_token
      const { jti } = decodeJwt(token)
      const introspected = await (await broker.call('POST', '/oauth/introspect', { ...form({ token }), basic: A })).json()
      expect(introspected).toMatchObject({ active: true, jti })
    }
  })
})
