import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemClock } from '../../src/clock.js'
import type { Grant } from '../../src/grants/grant.js'
import { createRedisStore, type Store } from '../../src/open-store.js'
import type { RedisBackend } from '../../src/store/redis-backend.js'
import type { RevocationMessage } from '../../src/wire/revocation-message.js'
import type { SubscriptionState } from '../../src/store/revocation-feed.js'
import { eventually, idsIn } from '../grants/store-contract.js'
import { testGrant } from '../helpers/grant.js'
import { type PrivateRedis, startRedis } from '../helpers/redis.js'

/*
 * Revocation against private redis-server processes: this file resets the server's statistics
 * and stops it, which must never touch the Redis other suites share.
 */

const revocation = (reason: string) => ({ by: 'admin', reason, at: Math.floor(Date.now() / 1000) })

const makeGrant = (clientId: string, overrides: Partial<Grant> = {}): Grant =>
  testGrant(clientId, 900, {
    task: { id: 'BULK-1' },
    authorizationDetails: [{ type: 'repo', actions: ['read'], identifier: 'docs/**' }],
    ...overrides,
  })

async function createAll(store: Store<RedisBackend>, grants: Grant[]): Promise<void> {
  for (let i = 0; i < grants.length; i += 250) {
    await Promise.all(grants.slice(i, i + 250).map((g) => store.grants.createGrant(g)))
  }
}

describe('bulk revocation on a private Redis', () => {
  let server: PrivateRedis
  let admin: Redis
  let store: Store<RedisBackend>
  const messages: RevocationMessage[] = []
  let unsubscribe: () => Promise<void>

  beforeAll(async () => {
    server = await startRedis()
    admin = new Redis(server.url)
    store = createRedisStore({ url: server.url, clock: systemClock })
    unsubscribe = await store.revocations.subscribeRevocations((m) => messages.push(m))
  })
  afterAll(async () => {
    await unsubscribe?.()
    await store?.close()
    await admin?.quit()
    await server?.stop()
  })

  it('revokes 5,000 grants of one client in batches of at most 500, one script call each', async () => {
    const client = 'bulk-agent'
    const grants = Array.from({ length: 5000 }, () => makeGrant(client))
    await createAll(store, grants)
    await admin.config('RESETSTAT')

    const from = messages.length
    expect(await store.grants.revokeByClient(client, revocation('runtime compromised'))).toBe(5000)

    // Ensure the work was split: no single script call revoked more than a batch (Redis runs a
    // script to its end before serving anyone else, so one call for 5,000 grants would stall it).
    const stats = String(await admin.info('commandstats'))
    const scriptCalls = [...stats.matchAll(/cmdstat_(?:evalsha|eval|fcall):calls=(\d+)/g)]
      .reduce((sum, m) => sum + Number(m[1]), 0)
    expect(scriptCalls).toBeGreaterThanOrEqual(10)
    await eventually(() => idsIn(messages.slice(from)).length >= 5000, 'every batch message')
    const published = messages.slice(from)
    expect(published.map((m) => ('grants' in m ? m.grants.length : 'all'))).toEqual(
      Array.from({ length: 10 }, () => 500),
    )
    expect(new Set(idsIn(published))).toEqual(new Set(grants.map((g) => g.id)))

    expect(await store.grants.countLiveGrants(client)).toBe(0)
    expect(await store.grants.listGrants({ clientId: client })).toEqual([])
    const states = await Promise.all(grants.map((g) => store.grants.getGrant(client, g.id)))
    expect(states.filter((s) => s.state !== 'revoked')).toEqual([])
    expect(states[4999]).toMatchObject({ revocation: { reason: 'runtime compromised' } })
  })

  it('splits a batch of unusually large grants so no script call grows large', async () => {
    const client = 'large-agent'
    // About 6 KB of JSON each: 300 of them are well over the 1 MiB a batch script is given.
    const identifier = `docs/${'x'.repeat(6000)}/**`
    const authorizationDetails = [{ type: 'repo', actions: ['read'], identifier }]
    const grants = Array.from({ length: 300 }, () => makeGrant(client, { authorizationDetails }))
    await createAll(store, grants)
    const from = messages.length
    expect(await store.grants.revokeByClient(client, revocation('large'))).toBe(300)
    await eventually(() => idsIn(messages.slice(from)).length >= 300, 'every batch message')
    const sizes = messages.slice(from).map((m) => ('grants' in m ? m.grants.length : 0))
    expect(sizes.length).toBeGreaterThan(1)
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(300)
  })

  it('keeps grant id pointers and approver indexes exactly as long as the grants', async () => {
    const grant = makeGrant('ttl-agent', {
      approval: {
        id: 'ap-1',
        manifestSha256: '00'.repeat(32),
        approvers: [{ sub: 'a@example.com', aaguid: 'x', credentialId: 'c', at: 0 }],
      },
    })
    await store.grants.createGrant(grant)
    const remaining = grant.expiresAt * 1000 - Date.now()
    for (const key of [store.backend.keys.grantPointer(grant.id), store.backend.keys.approver('a@example.com')]) {
      const pttl = await admin.pttl(key)
      expect(pttl).toBeGreaterThan(remaining - 2000)
      expect(pttl).toBeLessThanOrEqual(900_000)
    }
  })

  it('treats a message nobody can read as "everything was revoked"', async () => {
    const seen: RevocationMessage[] = []
    const stop = await store.revocations.subscribeRevocations((m) => seen.push(m))
    const channel = store.backend.keys.revocationChannel()
    await admin.publish(channel, 'not json')
    await admin.publish(channel, JSON.stringify({ v: 2, grants: [] }))
    await admin.publish(channel, JSON.stringify({ v: 1, grants: [{ id: 7 }] }))
    await eventually(() => seen.length === 3, 'three messages')
    expect(seen).toEqual([
      { v: 1, all: true },
      { v: 1, all: true },
      { v: 1, all: true },
    ])
    await stop()
  })
})

describe('a revocation subscriber when Redis restarts', () => {
  let server: PrivateRedis
  let store: Store<RedisBackend>
  const states: SubscriptionState[] = []
  const messages: RevocationMessage[] = []
  let unsubscribe: () => Promise<void>

  beforeAll(async () => {
    server = await startRedis()
    store = createRedisStore({ url: server.url, clock: systemClock, commandTimeoutMs: 500 })
    unsubscribe = await store.revocations.subscribeRevocations(
      (m) => messages.push(m),
      (s) => states.push(s),
    )
  })
  afterAll(async () => {
    await unsubscribe?.()
    await store?.close()
    await server?.stop()
  })

  it("hears 'down' when Redis stops, then 'up' and new messages once it is back", async () => {
    const before = makeGrant('restart-agent')
    await store.grants.createGrant(before)
    await store.grants.revokeGrant(before.clientId, before.id, revocation('before'))
    await eventually(() => idsIn(messages).includes(before.id), 'the first message')
    expect(states).toEqual([])

    await server.stop()
    await eventually(() => states.includes('down'), "'down'")
    expect(states).toEqual(['down'])

    await server.restart()
    await eventually(() => states.length === 2, "'up'", 10_000)
    expect(states).toEqual(['down', 'up'])

    // The store recovers by itself too; revocations flow to the resubscribed connection.
    await eventually(() => store.backend.redis.status === 'ready', 'the store to reconnect', 10_000)
    const after = makeGrant('restart-agent')
    await store.grants.createGrant(after)
    expect(await store.grants.revokeByClient('restart-agent', revocation('after'))).toBe(1)
    await eventually(() => idsIn(messages).includes(after.id), 'a message after the restart')
  })

  it('fails to subscribe, within its timeout, when Redis is down', async () => {
    await server.stop()
    await expect(store.revocations.subscribeRevocations(() => {})).rejects.toMatchObject({
      code: 'temporarily_unavailable',
    })
    await server.restart()
  })
})
