import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createRedisApprovalStore } from '../../../src/approvals/store/redis-store.js'
import { manualClock } from '../../../src/clock.js'
import { createRedisStore, type Store } from '../../../src/open-store.js'
import type { RedisBackend } from '../../../src/store/redis-backend.js'
import { A, ceremonyOptions, deployManifest, enrol, makeApprovalBroker, poll, requestApproval, submit } from '../helpers.js'
import { describeApprovalStoreContract } from '../store-contract.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
/** Every key this file writes lives under this prefix, and is deleted in afterAll. */
const RUN_PREFIX = `writ-test-${randomBytes(6).toString('hex')}:`
const admin = new Redis(REDIS_URL)
let count = 0
const opened: Store<RedisBackend>[] = []

function grantStore(clock: ReturnType<typeof manualClock>, prefix = `${RUN_PREFIX}a${++count}:`): Store<RedisBackend> {
  const store = createRedisStore({ url: REDIS_URL, keyPrefix: prefix, clock })
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

describeApprovalStoreContract('redis', async () => {
  const clock = manualClock(Date.now())
  const grants = grantStore(clock)
  await grants.ping()
  const store = createRedisApprovalStore({ redis: grants.backend.redis, keyPrefix: grants.backend.keys.prefix, clock })
  return { store, clock, cleanup: () => store.close() }
})

describe('approvals on Redis', () => {
  it('keeps every key of a request in one Cluster slot, and approver records in another', async () => {
    const clock = manualClock(Date.now())
    const grants = grantStore(clock)
    await grants.ping()
    const store = createRedisApprovalStore({ redis: grants.backend.redis, keyPrefix: grants.backend.keys.prefix, clock })
    const now = Math.floor(clock() / 1000)
    await store.createRequest({
      id: 'slot-test',
      clientId: 'agent-a',
      secretSha256: 'ab'.repeat(32),
      manifest: { task: { id: 'T' }, grants: [{ type: 'deploy' }] },
      manifestSha256: 'cd'.repeat(32),
      ttlSeconds: 60,
      requirements: [{ ruleId: 'r', approvers: 1, from: 'g', requireDpop: false, forbidSelfApproval: true }],
      createdAt: now,
      expiresAt: now + 60,
      intervalSeconds: 5,
    })
    const keys = await admin.keys(`${grants.backend.keys.prefix}*slot-test*`)
    expect(keys.length).toBeGreaterThan(0)
    const slots = await Promise.all(keys.map((k) => admin.cluster('KEYSLOT', k).catch(() => null)))
    // Without cluster mode KEYSLOT may be unavailable; the hash tag is checked directly then.
    for (const key of keys) expect(key).toContain('{ar:slot-test}')
    if (slots.every((s) => s !== null)) expect(new Set(slots).size).toBe(1)
    // The approval request key lives no longer than its retention.
    const ttl = await admin.pttl(keys.find((k) => k.endsWith(':req'))!)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual((60 + 600) * 1000)
  })

  it('waits for the shared client to connect before its first command, instead of failing', async () => {
    const grants = grantStore(manualClock(Date.now()))
    // A fresh grant store has not connected yet, and its client queues nothing.
    expect(grants.backend.redis.status).not.toBe('ready')
    const approvals = createRedisApprovalStore({
      redis: grants.backend.redis,
      keyPrefix: grants.backend.keys.prefix,
      clock: manualClock(Date.now()),
      firstConnection: grants.backend.firstConnection,
    })
    await expect(approvals.getRequest('not-there')).resolves.toBeNull()
    // Without the wait, the same first command fails (what a freshly started broker answered 503 for).
    const cold = grantStore(manualClock(Date.now()))
    const unwaited = createRedisApprovalStore({ redis: cold.backend.redis, keyPrefix: cold.backend.keys.prefix, clock: manualClock(Date.now()) })
    await expect(unwaited.getRequest('not-there')).rejects.toMatchObject({ status: 503 })
  })

  it('survives a broker restart: a request made before it is approved and collected after it', async () => {
    const prefix = `${RUN_PREFIX}restart:`
    const first = await makeApprovalBroker({ store: grantStore(manualClock(Date.now()), prefix) })
    const alice = first.authenticator()
    await enrol(first, alice, 'alice@example.com', 'release-managers')
    const pending = await requestApproval(first, A, deployManifest())
    await first.close()

    const second = await makeApprovalBroker({ store: grantStore(manualClock(Date.now()), prefix) })
    try {
      const options = await ceremonyOptions(second, pending.id, 'approve')
      expect((await submit(second, pending.id, 'approve', alice.assert(options))).status).toBe(200)
      const token = await poll(second, A, pending.auth_req_id)
      expect(token.status).toBe(200)
      expect((await poll(second, A, pending.auth_req_id)).status).toBe(400)
    } finally {
      await second.close()
    }
  })
})
