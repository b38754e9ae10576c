import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestBroker } from '../helpers/broker.js'
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js'
import { APP, claimsOf, details, makeDelegationBroker, oauthClient } from '../delegation/helpers.js'

/**
 * Token exchange on a Redis Cluster: the grant's create script runs in the receiving client's
 * slot, so the lock markers of the other clients of the chain (each in its own client's slot) are
 * read after it, never inside it (CROSSSLOT).
 */
let cluster: RedisCluster
let broker: TestBroker

beforeAll(async () => {
  cluster = await startRedisCluster(3)
  broker = await makeDelegationBroker({
    config: {
      store: { kind: 'redis', clusterNodes: cluster.nodes, keyPrefix: `writ-cdel-${randomBytes(4).toString('hex')}:` },
      keys: { source: 'store', kek: randomBytes(32).toString('base64') },
    },
  })
}, 60_000)

afterAll(async () => {
  await broker?.close()
  await cluster?.stop()
})

describe('token exchange on a 3-master Redis Cluster', () => {
  it('hands a token over twice, and refuses a hand-over under a lock on the delegating client', async () => {
    const read = JSON.stringify(details(['read'], 'docs/**'))
    const root = await oauthClient(broker, 'planner').issue(details(['read'], 'docs/**'))
    const child = await oauthClient(broker, 'worker').exchange(root.access_token, { authorization_details: read })
    const grandchild = await oauthClient(broker, 'sub').exchange(child.access_token, { authorization_details: read })
    expect(claimsOf(grandchild.access_token)).toMatchObject({ sub: 'planner', client_id: 'sub', aud: APP })

    const lockId = 'cluster-lock-worker'
    await broker.store.locks.putLock({ id: lockId, target: { kind: 'client', id: 'worker' }, reason: 'incident', by: 'admin', createdAt: Math.floor(broker.clock() / 1000) })
    try {
      const refused = await oauthClient(broker, 'sub').exchangeResponse(child.access_token, { authorization_details: read })
      expect(refused.status).toBe(403)
      expect(await refused.json()).toMatchObject({ error: 'access_denied' })
      const live = (await broker.store.grants.listGrants({ clientId: 'sub' })).map((g) => g.id)
      expect(live).toEqual([grandchild.grant_id])
    } finally {
      await broker.store.locks.removeLock(lockId)
    }
  })
})
