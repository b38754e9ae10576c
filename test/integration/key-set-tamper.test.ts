import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { calculateJwkThumbprint, decodeJwt, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/config.js'
import { createStoreKeys } from '../../src/wire/keys.js'
import { createVerifier } from '../../src/verifier/index.js'
import { docsManifest, form, ISSUER, json, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'
import { outcome } from '../helpers/verifier.js'

/**
 * A store writer without the KEK plants its own public key in the `previous` slot of the stored
 * key set with one HSET, then signs tokens with it. No broker may publish it or accept them.
 */

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
const APP = 'https://git.example.com/acme/app'
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const prefix = `writ-tamper-${randomBytes(4).toString('hex')}:`
const config = {
  store: { kind: 'redis' as const, redisUrl: REDIS_URL, keyPrefix: prefix },
  keys: { source: 'store' as const, kek: randomBytes(32).toString('base64') },
}
let one: TestBroker
let two: TestBroker
let redis: Redis

beforeAll(async () => {
  ;[one, two] = await Promise.all([makeTestBroker({ config }), makeTestBroker({ config })])
  redis = new Redis(REDIS_URL)
})
afterAll(async () => {
  await one?.close()
  await two?.close()
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length) await redis.del(...keys)
  await redis.quit()
})

const jwks = async (b: TestBroker) =>
  (await (await b.call('GET', '/.well-known/jwks.json')).json()) as { keys: Array<{ kid: string }> }

async function issue(b: TestBroker): Promise<string> {
  const res = await b.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })
  expect(res.status).toBe(200)
  return (await res.json()).access_token
}

async function active(b: TestBroker, token: string): Promise<boolean> {
  const res = await b.call('POST', '/oauth/introspect', { ...form({ token }), basic: A })
  return (await res.json()).active
}

/**
 * The attacker's edit: their public key as `previous` in whatever the stored value holds (the
 * MAC'd body of the current format, or the key list of the earlier one), written with one HSET
 * of the `data` field. Returns the attacker's private key and kid.
 */
async function plantAttackerKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const { x, y } = publicKey.export({ format: 'jwk' })
  const jwk = { kty: 'EC', crv: 'P-256', x: x!, y: y! }
  const kid = await calculateJwkThumbprint(jwk)
  const planted = { slot: 'previous', kid, alg: 'ES256', jwk, createdAt: 1, activatedAt: 1, retiredAt: 4_000_000_000 }
  const key = createStoreKeys(prefix).keySet()
  const stored = JSON.parse((await redis.hget(key, 'data'))!) as { body?: string; keys?: unknown[] }
  if (stored.body !== undefined) {
    const body = JSON.parse(stored.body) as { keys: Array<{ slot: string }> }
    body.keys = [...body.keys.filter((k) => k.slot !== 'previous'), planted]
    stored.body = JSON.stringify(body)
  } else {
    stored.keys = [...(stored.keys as Array<{ slot: string }>).filter((k) => k.slot !== 'previous'), planted]
  }
  await redis.hset(key, 'data', JSON.stringify(stored))
  return { privateKey, kid }
}

describe('a key planted in the stored key set without the KEK', () => {
  it('is never published nor trusted; the brokers alarm and keep serving the last good set', async () => {
    const genuine = await issue(one)
    const before = await jwks(one)
    const head = (await one.audit.log!.head()).seq
    const attacker = await plantAttackerKey()
    // Every replica re-reads the store (its periodic refresh; a store writer can also announce).
    await redis.publish(`${prefix}revocations`, JSON.stringify({ v: 1, keys: { kids: [attacker.kid] } }))
    await Promise.all([one.keys.refresh().catch(() => undefined), two.keys.refresh().catch(() => undefined)])

    // No broker publishes it; both keep the last good set.
    for (const b of [one, two]) {
      const published = await jwks(b)
      expect(published.keys.map((k) => k.kid)).not.toContain(attacker.kid)
      expect(published).toEqual(before)
    }

    // A token the attacker signs for a live grant is refused by introspection and a verifier.
    const forged = await new SignJWT(decodeJwt(genuine))
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: attacker.kid })
      .sign(attacker.privateKey)
    expect(await active(one, forged)).toBe(false)
    expect(await active(two, forged)).toBe(false)
    const verifier = createVerifier({
      issuer: ISSUER,
      audience: APP,
      jwksUri: `${ISSUER}/.well-known/jwks.json`,
      fetch: async (input, init) => two.app.request(String(input), init),
      clock: two.clock,
      liveness: { mode: 'redis', redis: REDIS_URL, keyPrefix: prefix },
    })
    try {
      expect(await outcome(verifier, forged)).toBe('invalid_token')
      expect(await outcome(verifier, genuine)).toBe('ok')
    } finally {
      await verifier.close()
    }

    // The alarm: each replica audits it once per refused value (the announcement and the refresh
    // both made it look), naming what was refused and the key it keeps signing with.
    await Promise.all([one.audit.flush(), two.audit.flush()])
    const alarms = (await one.audit.log!.read({ fromSeq: head + 1 })).filter((e) => e.type === 'key.set_refused')
    const alarm = expect.objectContaining({
      actor: 'system',
      reason: expect.stringMatching(/does not authenticate under keys\.kek/),
      kept_kid: one.keys.signingKey().kid,
    })
    expect(alarms).toEqual([alarm, alarm])

    // Both replicas keep issuing tokens under the last good keys, and honour each other's.
    const fresh = await issue(two)
    expect(await active(one, fresh)).toBe(true)

    // A replica starting now refuses to start on keys it cannot trust.
    const err = await makeTestBroker({ config }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConfigError)
    expect(String((err as Error).message)).toMatch(/keys\.kek: .*does not authenticate/)
  })

  it('is overwritten by a compromised-key rotation, which every replica then adopts', async () => {
    const planted = await plantAttackerKey()
    await one.keys.rotate({ compromised: true })
    for (const b of [one, two]) {
      await expect.poll(async () => (await jwks(b)).keys.map((k) => k.kid)).toEqual(one.keys.jwks().keys.map((k) => k.kid))
      expect((await jwks(b)).keys.map((k) => k.kid)).not.toContain(planted.kid)
    }
  })
})
