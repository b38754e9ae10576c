import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStoreKeys } from '../../src/wire/keys.js'
import type { Verifier } from '../../src/verifier/index.js'
import { docsManifest, form, ISSUER, json, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'
import { type PrivateRedis, startRedis } from '../helpers/redis.js'
import { eventually } from '../helpers/eventually.js'
import { brokerVerifier, outcome } from '../helpers/verifier.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
const APP = 'https://git.example.com/acme/app'
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'


interface Setup {
  broker: TestBroker
  verifiers: Verifier[]
  prefix: string
}

async function setUp(redisUrl: string, count: number, heartbeatMs = 1000): Promise<Setup> {
  const prefix = `writ-verifier-${randomBytes(6).toString('hex')}:`
  const broker = await makeTestBroker({
    config: {
      store: { kind: 'redis', redisUrl, keyPrefix: prefix, commandTimeoutMs: 500 },
      keys: { source: 'store', kek: randomBytes(32).toString('base64') },
    },
  })
  const verifiers = Array.from({ length: count }, () =>
    brokerVerifier(broker, {
      audience: APP,
      liveness: { mode: 'redis', redis: redisUrl, keyPrefix: prefix, cacheTtlSeconds: 3600, commandTimeoutMs: 500, heartbeatMs },
    }),
  )
  await eventually('every verifier subscribed', () => verifiers.every((v) => v.status().mode === 'redis' && (v.status() as { subscribed: boolean }).subscribed))
  return { broker, verifiers, prefix }
}

async function tearDown(setup: Setup | undefined, redisUrl: string): Promise<void> {
  if (!setup) return
  await Promise.all(setup.verifiers.map((v) => v.close()))
  await setup.broker.close()
  const admin = new Redis(redisUrl, { maxRetriesPerRequest: 1 })
  try {
    const keys = await admin.keys(`${setup.prefix}*`)
    if (keys.length > 0) await admin.del(...keys)
  } finally {
    admin.disconnect()
  }
}

async function issue(broker: TestBroker): Promise<{ token: string; grantId: string }> {
  const res = await broker.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })
  expect(res.status).toBe(200)
  const body = await res.json()
  return { token: body.access_token, grantId: body.grant_id }
}

const cached = (v: Verifier): number => (v.status() as { cachedGrants: number }).cachedGrants

describe('redis liveness with several verifiers on a real Redis', () => {
  let setup: Setup | undefined
  let admin: Redis

  beforeAll(async () => {
    setup = await setUp(REDIS_URL, 5)
    admin = new Redis(REDIS_URL)
  })
  afterAll(async () => {
    admin?.disconnect()
    await tearDown(setup, REDIS_URL)
  })

  it('after a revoke call returns, none of the verifiers accepts the token', async () => {
    const { broker, verifiers } = setup!
    const { token } = await issue(broker)
    for (const v of verifiers) expect(await outcome(v, token)).toBe('ok')
    // Every verifier now holds the grant as confirmed live: only a message can drop it.
    for (const v of verifiers) expect(cached(v)).toBeGreaterThan(0)

    const res = await broker.call('POST', '/oauth/revoke', { ...form({ token }), basic: A })
    expect(res.status).toBe(200)
    await eventually('every verifier refuses the revoked token', async () => {
      const answers = await Promise.all(verifiers.map((v) => outcome(v, token)))
      return answers.every((a) => a === 'token_revoked')
    })
  })

  it('sees bulk revocations: a whole task, then everything', async () => {
    const { broker, verifiers } = setup!
    const tokens = await Promise.all([issue(broker), issue(broker), issue(broker)])
    for (const v of verifiers) for (const { token } of tokens) expect(await outcome(v, token)).toBe('ok')
    const by = { by: 'admin', reason: 'test', at: Math.floor(broker.clock() / 1000) }
    expect(await broker.store.grants.revokeByTask('JIRA-4711', by)).toBeGreaterThanOrEqual(3)
    await eventually('every verifier refuses every token of the task', async () => {
      const answers = await Promise.all(verifiers.flatMap((v) => tokens.map(({ token }) => outcome(v, token))))
      return answers.every((a) => a === 'token_revoked')
    })

    const other = await issue(broker)
    for (const v of verifiers) expect(await outcome(v, other.token)).toBe('ok')
    await broker.store.grants.revokeAll(by)
    await eventually('every verifier refuses after revoking everything', async () => {
      const answers = await Promise.all(verifiers.map((v) => outcome(v, other.token)))
      return answers.every((a) => a === 'token_revoked')
    })
  })

  it('trusts its cache until a message drops the grant (the cache is real, and so is the message)', async () => {
    const { broker, verifiers, prefix } = setup!
    const [v] = verifiers as [Verifier]
    const { token, grantId } = await issue(broker)
    expect(await outcome(v, token)).toBe('ok')
    // Remove the grant behind the broker's back: no message, so the cached confirmation stands.
    await admin.del(createStoreKeys(prefix).grant('agent-a', grantId))
    expect(await outcome(v, token)).toBe('ok')
    await admin.publish(
      `${prefix}revocations`,
      JSON.stringify({ v: 1, grants: [{ id: grantId, clientId: 'agent-a', exp: 2e9 }] }),
    )
    await eventually('the message drops the grant', async () => (await outcome(v, token)) === 'token_revoked')
  })

  it.each([
    ['an all message', JSON.stringify({ v: 1, all: true })],
    ['a message it cannot parse', '{"v":2,"grants":"?"}'],
  ])('drops every cached grant on %s', async (_name, message) => {
    const { broker, verifiers, prefix } = setup!
    const [v] = verifiers as [Verifier]
    const first = await issue(broker)
    const second = await issue(broker)
    expect(await outcome(v, first.token)).toBe('ok')
    expect(await outcome(v, second.token)).toBe('ok')
    const keys = createStoreKeys(prefix)
    await admin.del(keys.grant('agent-a', first.grantId), keys.grant('agent-a', second.grantId))
    await admin.publish(`${prefix}revocations`, message)
    await eventually('both grants dropped', async () => (await outcome(v, first.token)) === 'token_revoked')
    expect(await outcome(v, second.token)).toBe('token_revoked')
  })

  it('refuses a token whose grant was never recorded under its prefix', async () => {
    const { broker } = setup!
    const { token } = await issue(broker)
    const elsewhere = brokerVerifier(broker, {
      audience: APP,
      liveness: { mode: 'redis', redis: admin, keyPrefix: `${setup!.prefix}other:` },
    })
    try {
      expect(await outcome(elsewhere, token)).toBe('token_revoked')
    } finally {
      await elsewhere.close()
    }
    // The caller's own client stays open: the verifier only closed what it created.
    expect(await admin.ping()).toBe('PONG')
  })
})

describe('redis liveness across a Redis outage (private redis-server)', () => {
  let redis: PrivateRedis
  let setup: Setup | undefined

  beforeAll(async () => {
    redis = await startRedis()
    // A slow heartbeat: here the lost connection itself must drop the cache.
    setup = await setUp(redis.url, 3, 60_000)
  })
  afterAll(async () => {
    await tearDown(setup, redis.url).catch(() => undefined)
    await redis?.stop()
  })

  it('fails closed while Redis is down, resubscribes when it is back, and revocations still arrive', async () => {
    const { broker, verifiers } = setup!
    const before = await issue(broker)
    for (const v of verifiers) expect(await outcome(v, before.token)).toBe('ok')

    await redis.stop()
    // A cached confirmation is worthless once messages may be missed: nothing is accepted.
    await eventually('every verifier fails closed', async () => {
      const answers = await Promise.all(verifiers.map((v) => outcome(v, before.token)))
      return answers.every((a) => a === 'liveness_unavailable')
    })
    for (const v of verifiers) expect(v.status()).toMatchObject({ subscribed: false, cachedGrants: 0 })

    await redis.restart()
    await eventually('every verifier resubscribed', () => verifiers.every((v) => (v.status() as { subscribed: boolean }).subscribed))
    await eventually('the broker is ready', async () => (await broker.app.request(`${ISSUER}/readyz`)).status === 200)
    // Redis came back empty: the old grant is gone, and the allow-list says so.
    for (const v of verifiers) expect(await outcome(v, before.token)).toBe('token_revoked')

    const after = await issue(broker)
    for (const v of verifiers) expect(await outcome(v, after.token)).toBe('ok')
    for (const v of verifiers) expect(cached(v)).toBeGreaterThan(0)
    const res = await broker.call('POST', '/oauth/revoke', { ...form({ token: after.token }), basic: A })
    expect(res.status).toBe(200)
    await eventually('every verifier refuses the token revoked after the restart', async () => {
      const answers = await Promise.all(verifiers.map((v) => outcome(v, after.token)))
      return answers.every((a) => a === 'token_revoked')
    })
  })
})

describe('redis liveness against a frozen Redis (connections open, nothing answered)', () => {
  let redis: PrivateRedis
  let setup: Setup | undefined

  beforeAll(async () => {
    redis = await startRedis()
    setup = await setUp(redis.url, 1, 200)
  })
  afterAll(async () => {
    redis?.resume()
    await tearDown(setup, redis.url).catch(() => undefined)
    await redis?.stop()
  })

  it('notices through its heartbeat, drops the cache and fails closed, then recovers', async () => {
    const { broker, verifiers } = setup!
    const [v] = verifiers as [Verifier]
    const { token } = await issue(broker)
    expect(await outcome(v, token)).toBe('ok')
    expect(cached(v)).toBe(1)

    redis.pause()
    await eventually('the verifier fails closed', async () => (await outcome(v, token)) === 'liveness_unavailable')
    expect(v.status()).toMatchObject({ subscribed: false, cachedGrants: 0 })

    redis.resume()
    await eventually('the verifier resubscribed', () => (v.status() as { subscribed: boolean }).subscribed)
    expect(await outcome(v, token)).toBe('ok')
  })
})

describe('redis liveness and key-set announcements', () => {
  let setup: Setup | undefined
  let admin: Redis

  beforeAll(async () => {
    setup = await setUp(REDIS_URL, 3)
    admin = new Redis(REDIS_URL)
  })
  afterAll(async () => {
    admin?.disconnect()
    await tearDown(setup, REDIS_URL)
  })

  /** The bound docs/verifier.md ("Withdrawn keys") states for redis-mode verifiers after an announcement, with CI slack. */
  const KEY_BOUND_MS = 3_000

  it('stop accepting a kid within seconds of the announcement that drops it, remembered tokens included', async () => {
    const { broker, verifiers, prefix } = setup!
    const { token } = await issue(broker)
    // Verified and remembered by every verifier: only the announcement can take the key away.
    for (const v of verifiers) expect(await outcome(v, token)).toBe('ok')
    const kid = broker.keys.signingKey().kid
    // The broker's JWKS still lists the key (a replica or cache a little behind): not believed.
    expect(broker.keys.jwks().keys.map((k) => k.kid)).toContain(kid)
    await admin.publish(`${prefix}revocations`, JSON.stringify({ v: 1, keys: { kids: ['a-fresh-kid'] } }))
    await eventually(
      'every verifier refuses the dropped kid',
      async () => {
        const answers = await Promise.all(verifiers.map((v) => outcome(v, token)))
        return answers.every((a) => a === 'invalid_token')
      },
      { boundMs: KEY_BOUND_MS },
    )
    // The grant itself is untouched: it is the key that is refused.
    expect((await broker.store.grants.getGrant('agent-a', (await broker.store.grants.listGrants({ clientId: 'agent-a' }))[0]!.id)).state).toBe('live')
  })

  it('accept the fresh keys of a compromised-key rotation within seconds, not after the unknown-kid cooldown', async () => {
    const { broker, verifiers } = setup!
    const old = broker.keys.jwks().keys.map((k) => k.kid)
    // The verifiers' last JWKS fetch was a second ago or more (their clock is the broker's).
    broker.clock.advance(1000)
    await broker.keys.rotate({ compromised: true })
    const { token } = await issue(broker)
    await eventually(
      'every verifier accepts a token of the fresh key',
      async () => {
        const answers = await Promise.all(verifiers.map((v) => outcome(v, token)))
        return answers.every((a) => a === 'ok')
      },
      { boundMs: KEY_BOUND_MS },
    )
    for (const kid of broker.keys.jwks().keys.map((k) => k.kid)) expect(old).not.toContain(kid)
  })
})
