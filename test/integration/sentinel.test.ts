import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { docsManifest, form, json, makeTestBroker, SECRETS, type TestBroker } from '../helpers/broker.js'
import { type RedisSentinelSetup, startRedisSentinel } from '../helpers/redis-cluster.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
/** How long a failover may take before the test gives up: a bound, not a timing assertion. */
const BOUND_MS = 30_000
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function eventually(what: string, condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + BOUND_MS
  for (;;) {
    if (await condition()) return
    if (Date.now() > deadline) throw new Error(`still not true after ${BOUND_MS} ms: ${what}`)
    await sleep(100)
  }
}

let sentinel: RedisSentinelSetup
let broker: TestBroker

beforeAll(async () => {
  sentinel = await startRedisSentinel()
  broker = await makeTestBroker({
    config: {
      store: {
        kind: 'redis',
        sentinels: [sentinel.sentinel],
        sentinelName: sentinel.name,
        minReplicasAcked: 1,
        // WAIT gets half of this: room for a replica that has just synced, on a loaded CI machine.
        commandTimeoutMs: 2000,
        keyPrefix: `writ-sentinel-${randomBytes(4).toString('hex')}:`,
      },
      keys: { source: 'store', kek: randomBytes(32).toString('base64') },
    },
  })
}, 60_000)

afterAll(async () => {
  await broker?.close()
  await sentinel?.stop()
})

const issue = () => broker.call('POST', '/v1/tokens', { ...json(docsManifest()), basic: A })

describe('a broker on Redis Sentinel (a primary, a replica, a Sentinel)', () => {
  it('fails closed while the primary is gone, recovers after failover, and loses no acknowledged grant', async () => {
    const acknowledged: Array<{ grantId: string; token: string }> = []
    for (let i = 0; i < 20; i++) {
      const res = await issue()
      expect(res.status).toBe(200)
      const body = await res.json()
      acknowledged.push({ grantId: body.grant_id, token: body.access_token })
    }

    await sentinel.killMaster()
    // Ensure no token is issued while the store cannot record its grant.
    const during = await issue()
    expect(during.status).toBe(503)
    expect((await during.json()).error).toBe('temporarily_unavailable')
    expect((await broker.call('GET', '/readyz')).status).toBe(503)

    await sentinel.awaitFailover()
    await eventually('the broker reaches the new primary', async () => (await broker.call('GET', '/readyz')).status === 200)
    // The new primary has no replica yet: no write can be confirmed by one (WAIT 1), so nothing is
    // acknowledged, though the primary itself answers.
    const unreplicated = await issue()
    expect(unreplicated.status).toBe(503)
    expect((await unreplicated.json()).error).toBe('temporarily_unavailable')

    await sentinel.restartOldMaster()
    await eventually('issuance recovers', async () => (await issue()).status === 200)

    // Every grant acknowledged before the crash survived it.
    for (const { grantId, token } of acknowledged) {
      expect((await broker.store.grants.getGrant('agent-a', grantId)).state).toBe('live')
      const seen = await broker.call('POST', '/oauth/introspect', { ...form({ token }), basic: A })
      expect((await seen.json()).active).toBe(true)
    }
  }, 120_000)
})
