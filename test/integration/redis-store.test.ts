import { randomBytes, randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { systemClock } from '../../src/clock.js'
import type { Grant } from '../../src/grants/grant.js'
import { createRedisStore, type Store } from '../../src/open-store.js'
import type { RedisBackend } from '../../src/store/redis-backend.js'
import { describeStoreContract, type StoreHarness } from '../grants/store-contract.js'
import { describeOnceStoreContract } from '../store/once-store-contract.js'
import { describeSettingsStoreContract } from '../store/settings-store-contract.js'
import { describeKeySetStoreContract } from '../tokens/key-set-store-contract.js'
import { testGrant } from '../helpers/grant.js'
import { freePort, type PrivateRedis, startRedis } from '../helpers/redis.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
/** Every key this run writes lives under this prefix, and is deleted in afterAll. */
const RUN_PREFIX = `writ-test-${randomBytes(6).toString('hex')}:`
let storeCount = 0

const admin = new Redis(REDIS_URL)
const opened: Store<RedisBackend>[] = []

/** A store on the shared Redis, under its own prefix inside this run's prefix. */
function sharedStore(prefix = `${RUN_PREFIX}s${++storeCount}:`): Store<RedisBackend> {
  const store = createRedisStore({
    url: REDIS_URL,
    keyPrefix: prefix,
    commandTimeoutMs: 1000,
    clock: systemClock,
  })
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

const redisStore = async (): Promise<StoreHarness> => {
  const store = sharedStore()
  return { store, cleanup: () => store.close() }
}

describeStoreContract('redis', redisStore)
describeOnceStoreContract('redis', redisStore)
describeSettingsStoreContract('redis', redisStore)
describeKeySetStoreContract('redis', redisStore)

const makeGrant = (clientId: string, lifeSeconds: number): Grant => testGrant(clientId, lifeSeconds)

/** Asserts a call fails closed with 503 within `withinMs`; returns how long it took. */
async function expectUnavailable(call: Promise<unknown>, withinMs: number): Promise<number> {
  const started = Date.now()
  await expect(call).rejects.toMatchObject({ code: 'temporarily_unavailable', status: 503 })
  const elapsed = Date.now() - started
  expect(elapsed).toBeLessThan(withinMs)
  return elapsed
}

/** Polls until the store answers ping, without recreating it. */
async function waitForRecovery(store: Store<RedisBackend>, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs
  for (;;) {
    try {
      await store.ping()
      return
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

describe('redis store: what Redis really holds', () => {
  let store: Store<RedisBackend>
  beforeAll(() => {
    store = sharedStore()
  })

  it("sets every record's TTL to its remaining life", async () => {
    const client = `ttl-${randomUUID()}`
    const grant = makeGrant(client, 600)
    await store.grants.createGrant(grant)
    const remaining = grant.expiresAt * 1000 - Date.now()
    for (const key of [
      store.backend.keys.grant(client, grant.id),
      store.backend.keys.live(client),
      store.backend.keys.task(client, grant.task.id),
    ]) {
      const pttl = await admin.pttl(key)
      expect(pttl).toBeGreaterThan(remaining - 2000)
      expect(pttl).toBeLessThanOrEqual(600_000)
    }

    await store.grants.revokeGrant(client, grant.id, { by: 'admin', reason: 'test', at: 0 })
    expect(await admin.exists(store.backend.keys.grant(client, grant.id))).toBe(0)
    const tombstoneTtl = await admin.pttl(store.backend.keys.tombstone(client, grant.id))
    expect(tombstoneTtl).toBeGreaterThan(remaining - 2000)
    expect(tombstoneTtl).toBeLessThanOrEqual(600_000)

    await store.once.consumeOnce('ttl', client, 30)
    expect(await admin.ttl(store.backend.keys.once('ttl', client))).toBe(30)
  })

  it('keeps an index alive as long as its longest-lived grant', async () => {
    const client = `index-${randomUUID()}`
    await store.grants.createGrant(makeGrant(client, 900))
    await store.grants.createGrant(makeGrant(client, 60))
    expect(await admin.pttl(store.backend.keys.live(client))).toBeGreaterThan(897_000)
    expect(await admin.pttl(store.backend.keys.task(client, 'JIRA-4711'))).toBeGreaterThan(897_000)
  })

  it('keeps a client in the index of clients as long as its longest-lived grant', async () => {
    const client = `clients-${randomUUID()}`
    const long = makeGrant(client, 900)
    await store.grants.createGrant(long)
    await store.grants.createGrant(makeGrant(client, 60))
    expect(Number(await admin.zscore(store.backend.keys.clients(), client))).toBe(long.expiresAt * 1000)
    // An entry whose client's grants have all expired is pruned by the next reader.
    const gone = `gone-${randomUUID()}`
    await admin.zadd(store.backend.keys.clients(), Date.now() - 1000, gone)
    await store.grants.listGrants({})
    expect(await admin.zscore(store.backend.keys.clients(), gone)).toBeNull()
    expect(Number(await admin.zscore(store.backend.keys.clients(), client))).toBe(long.expiresAt * 1000)
  })

  it('reaches on revoke-all the grants no index of clients names (from before the index)', async () => {
    // Glob characters in the prefix, and a sibling prefix the unescaped pattern would match.
    const own = sharedStore(`${RUN_PREFIX}sweep*?[x]:`)
    const sibling = sharedStore(`${RUN_PREFIX}sweepZZx:`)
    const clients = Array.from({ length: 40 }, (_, i) => `old-${i}-${randomUUID()}`)
    clients.push(`odd:{x}%3A-${randomUUID()}`)
    const grants = clients.map((c) => makeGrant(c, 600))
    for (const g of grants) await own.grants.createGrant(g)
    const kept = makeGrant(`sibling-${randomUUID()}`, 600)
    await sibling.grants.createGrant(kept)
    // What a broker from before the index leaves: grants, and no index of clients naming them.
    await admin.del(own.backend.keys.clients())
    expect(await own.grants.listGrants({})).toEqual([])

    expect(await own.grants.revokeAll({ by: 'admin', reason: 'incident', at: 0 })).toBe(grants.length)
    for (const g of grants) expect((await own.grants.getGrant(g.clientId, g.id)).state).toBe('revoked')
    expect((await sibling.grants.getGrant(kept.clientId, kept.id)).state).toBe('live')
  })

  it('lets a record vanish from Redis itself when its life ends', async () => {
    const client = `vanish-${randomUUID()}`
    const grant = makeGrant(client, 600)
    grant.expiresAt = Math.floor(Date.now() / 1000) + 1
    // Life between 0 and 1 s: create only when at least 300 ms remain.
    if (grant.expiresAt * 1000 - Date.now() < 300) grant.expiresAt += 1
    await store.grants.createGrant(grant)
    await new Promise((resolve) => setTimeout(resolve, grant.expiresAt * 1000 - Date.now() + 20))
    expect(await admin.exists(store.backend.keys.grant(client, grant.id))).toBe(0)
    expect(await admin.exists(store.backend.keys.live(client))).toBe(0)
  })

  it('keeps the key set without expiry', async () => {
    const own = sharedStore()
    expect(await own.keySets.putKeySet('keys', null)).toBe(true)
    expect(await admin.pttl(own.backend.keys.keySet())).toBe(-1)
  })

  it('re-sends scripts after Redis forgets them', async () => {
    const client = `noscript-${randomUUID()}`
    const own = sharedStore()
    await own.grants.createGrant(makeGrant(client, 60))
    await admin.script('FLUSH')
    await own.grants.createGrant(makeGrant(client, 60))
    expect(await own.grants.countLiveGrants(client)).toBe(2)
  })

  it('keeps the quota atomic across replicas on separate connections', async () => {
    const prefix = `${RUN_PREFIX}replicas:`
    const replicas = [sharedStore(prefix), sharedStore(prefix), sharedStore(prefix)]
    const client = `replicas-${randomUUID()}`
    await replicas[0]!.grants.createGrant(makeGrant(client, 60), { maxLiveGrants: 3 })
    await replicas[1]!.grants.createGrant(makeGrant(client, 60), { maxLiveGrants: 3 })
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        replicas[i % 3]!.grants.createGrant(makeGrant(client, 60), { maxLiveGrants: 3 }),
      ),
    )
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    expect(await replicas[2]!.grants.countLiveGrants(client)).toBe(3)
  })

  it('leaves a client it was given open on close()', async () => {
    const external = new Redis(REDIS_URL)
    const store = createRedisStore({
      redis: external,
      keyPrefix: `${RUN_PREFIX}external:`,
      clock: systemClock,
    })
    expect(store.backend.redis).toBe(external)
    await store.ping()
    await store.close()
    expect(await external.ping()).toBe('PONG')
    await expectUnavailable(store.ping(), 100)
    await external.quit()
  })

  it('closes a client it created on close()', async () => {
    const own = createRedisStore({ url: REDIS_URL, keyPrefix: RUN_PREFIX, clock: systemClock })
    await own.ping()
    await own.close()
    expect(own.backend.redis.status).toBe('end')
  })
})

describe('redis store: failing closed and recovering', () => {
  const COMMAND_TIMEOUT_MS = 400
  let redis: PrivateRedis
  let store: Store<RedisBackend>

  beforeAll(async () => {
    redis = await startRedis()
    store = createRedisStore({
      url: redis.url,
      keyPrefix: 'writ:',
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
      clock: systemClock,
    })
    await store.ping()
  })
  afterEach(() => {
    redis.resume()
  })
  afterAll(async () => {
    await store.close()
    await redis.stop()
  })

  it('fails fast with temporarily_unavailable when Redis stops, then recovers', async () => {
    const client = `stop-${randomUUID()}`
    await store.grants.createGrant(makeGrant(client, 60))
    await redis.stop()

    await expectUnavailable(store.grants.getGrant(client, 'any'), COMMAND_TIMEOUT_MS)
    await expectUnavailable(store.grants.createGrant(makeGrant(client, 60)), COMMAND_TIMEOUT_MS)
    const revocation = { by: 'admin', reason: 'test', at: 0 }
    await expectUnavailable(store.grants.revokeGrant(client, 'any', revocation), COMMAND_TIMEOUT_MS)
    await expectUnavailable(store.once.consumeOnce('s', 'i', 60), COMMAND_TIMEOUT_MS)
    await expectUnavailable(store.keySets.putKeySet('k', null), COMMAND_TIMEOUT_MS)
    await expectUnavailable(store.ping(), COMMAND_TIMEOUT_MS)

    await redis.restart()
    await waitForRecovery(store, 5000)
    // A fresh server (no persistence): the store works again, scripts included.
    const grant = makeGrant(client, 60)
    await store.grants.createGrant(grant, { maxLiveGrants: 1 })
    expect(await store.grants.getGrant(client, grant.id)).toEqual({ state: 'live', grant })
  })

  it('times out a command on a Redis that stopped answering, then recovers', async () => {
    const client = `hang-${randomUUID()}`
    redis.pause()
    const elapsed = await expectUnavailable(
      store.grants.createGrant(makeGrant(client, 60)),
      COMMAND_TIMEOUT_MS + 300,
    )
    expect(elapsed).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS - 50)
    redis.resume()
    await waitForRecovery(store, 5000)
    const grant = makeGrant(client, 60)
    await store.grants.createGrant(grant)
    expect(await store.grants.getGrant(client, grant.id)).toEqual({ state: 'live', grant })
  })

  it('fails closed within the command timeout when Redis is down from the start', async () => {
    const port = await freePort()
    const down = createRedisStore({
      url: `redis://127.0.0.1:${port}`,
      commandTimeoutMs: COMMAND_TIMEOUT_MS,
      clock: systemClock,
    })
    await expectUnavailable(down.grants.getGrant('c', 'g'), COMMAND_TIMEOUT_MS + 200)
    await expectUnavailable(down.ping(), COMMAND_TIMEOUT_MS + 200)
    await down.close()
  })
})
