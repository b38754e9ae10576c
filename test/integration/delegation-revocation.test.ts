import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdminToken } from '../../src/admin/index.js'
import type { Verifier } from '../../src/verifier/index.js'
import type { TestBroker } from '../helpers/broker.js'
import { eventually } from '../helpers/eventually.js'
import { deleteKeysWithPrefix } from '../helpers/redis.js'
import { brokerVerifier, outcome } from '../helpers/verifier.js'
import { APP, details, makeDelegationBroker, oauthClient, secretOf } from '../delegation/helpers.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const VERIFIERS = 3

let broker: TestBroker
let verifiers: Verifier[]
let admin: { token: string; tokenHash: string }
const prefix = `writ-delegation-${randomBytes(4).toString('hex')}:`

/** A verifier of the broker's tokens in `redis` mode on the test's keys. */
const redisVerifier = (liveness: { cacheTtlSeconds?: number } = {}): Verifier =>
  brokerVerifier(broker, { audience: APP, liveness: { mode: 'redis', redis: REDIS_URL, keyPrefix: prefix, ...liveness } })

beforeAll(async () => {
  admin = await createAdminToken()
  broker = await makeDelegationBroker({
    config: {
      admin: { tokenHash: admin.tokenHash },
      store: { kind: 'redis', redisUrl: REDIS_URL, keyPrefix: prefix, commandTimeoutMs: 1000 },
      keys: { source: 'store', kek: randomBytes(32).toString('base64') },
    },
  })
  verifiers = Array.from({ length: VERIFIERS }, () => redisVerifier({ cacheTtlSeconds: 3600 }))
  await eventually('every verifier subscribed', () =>
    verifiers.every((v) => (v.status() as { subscribed?: boolean }).subscribed === true),
  )
})
afterAll(async () => {
  await Promise.all((verifiers ?? []).map((v) => v.close()))
  await broker?.close()
  const redis = new Redis(REDIS_URL)
  await deleteKeysWithPrefix(redis, prefix)
  await redis.quit()
})

const asked = { authorization_details: JSON.stringify(details(['read'], 'docs/a.md')) }

/** planner's root token, worker's child of it, sub's grandchild: three levels on real Redis. */
async function chain(): Promise<{ root: string; child: string; grandchild: string }> {
  const root = (await oauthClient(broker, 'planner').issue(details(['read'], 'docs/**'), { ttl: '10m' })).access_token
  const child = (await oauthClient(broker, 'worker').exchange(root, asked)).access_token
  const grandchild = (await oauthClient(broker, 'sub').exchange(child, asked)).access_token
  return { root, child, grandchild }
}

/** Every verifier's answer for every token, once every one of them has cached them as live. */
async function answers(tokens: string[]): Promise<string[]> {
  return Promise.all(verifiers.flatMap((v) => tokens.map((t) => outcome(v, t))))
}

const jtiOf = (token: string): string =>
  (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti

const revokeByToken = (client: string, token: string) =>
  broker.call('POST', '/oauth/revoke', {
    basic: [client, secretOf(client)],
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  })

const adminRevoke = (body: Record<string, unknown>) =>
  broker.call('POST', '/admin/revocations', {
    headers: { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ reason: 'delegation test', ...body }),
  })

describe('cascading revocation of a three-level chain on Redis, verifiers in redis mode', () => {
  it('revoking the root makes every descendant fail at every verifier', async () => {
    const { root, child, grandchild } = await chain()
    expect(new Set(await answers([root, child, grandchild]))).toEqual(new Set(['ok']))
    expect((await revokeByToken('planner', root)).status).toBe(200)
    await eventually('every verifier refuses the whole chain', async () =>
      (await answers([root, child, grandchild])).every((a) => a === 'token_revoked'),
    )
    // And no new child can be had from any of them.
    const refusal = await oauthClient(broker, 'sub').refused(child, asked)
    expect(refusal).toMatchObject({ status: 400, error: 'invalid_request' })
  })

  it('revoking a middle node leaves the root alive and kills what hangs below', async () => {
    const { root, child, grandchild } = await chain()
    expect(new Set(await answers([root, child, grandchild]))).toEqual(new Set(['ok']))
    const res = await adminRevoke({ grant_id: jtiOf(child) })
    expect(await res.json()).toMatchObject({ revoked: 2, descendants_revoked: 1 })
    await eventually('every verifier refuses the child and the grandchild', async () =>
      (await answers([child, grandchild])).every((a) => a === 'token_revoked'),
    )
    expect(new Set(await answers([root]))).toEqual(new Set(['ok']))
  })

  it('a bulk revocation (by client) takes the descendants of the grants it revokes, in other clients', async () => {
    const { root, child, grandchild } = await chain()
    expect(new Set(await answers([root, child, grandchild]))).toEqual(new Set(['ok']))
    const res = await adminRevoke({ client_id: 'planner' })
    expect(await res.json()).toMatchObject({ descendants_revoked: 2 })
    await eventually('every verifier refuses the whole chain', async () =>
      (await answers([root, child, grandchild])).every((a) => a === 'token_revoked'),
    )
  })

  // The attack: a descendant's own record outliving its revoked root (the cascade not there yet,
  // or a broker that died part-way through it). Only the root's record is taken out here.
  it('a revoked root ends every descendant at once, before the cascade reaches their records', async () => {
    const { root, child, grandchild } = await chain()
    expect(new Set(await answers([root, child, grandchild]))).toEqual(new Set(['ok']))
    await broker.store.grants.revokeGrant('planner', jtiOf(root), { by: 'admin', reason: 'root only', at: 0 })
    expect(await broker.store.grants.getGrant('worker', jtiOf(child))).toMatchObject({ state: 'live' })
    expect(await broker.store.grants.getGrant('sub', jtiOf(grandchild))).toMatchObject({ state: 'live' })

    // Verifiers that held the chain as confirmed live drop it on the message naming the root ...
    await eventually('every verifier refuses the whole chain', async () =>
      (await answers([root, child, grandchild])).every((a) => a === 'token_revoked'),
    )
    // ... and one that never saw the chain looks up the grants above each token.
    const fresh = redisVerifier()
    try {
      await expect(fresh.verify(grandchild)).rejects.toMatchObject({
        code: 'token_revoked',
        message: `the token has been revoked: grant ${jtiOf(root)}, which it was delegated from, is not live`,
      })
    } finally {
      await fresh.close()
    }
    // The broker agrees: introspection says inactive, and no hand-over is had from a descendant.
    const introspected = await broker.call('POST', '/oauth/introspect', {
      basic: ['worker', secretOf('worker')],
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: child }).toString(),
    })
    expect(await introspected.json()).toEqual({ active: false })
    expect(await oauthClient(broker, 'sub').refused(child, asked)).toMatchObject({
      status: 400,
      error: 'invalid_request',
      description: `subject_token: grant ${jtiOf(root)}, which it was delegated from, is not live`,
    })
  })
})
