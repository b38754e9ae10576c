import { randomBytes } from 'node:crypto'
import { Cluster, Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Grant } from '../../src/grants/grant.js'
import { createStoreKeys } from '../../src/wire/keys.js'
import { createVerifier, type Verifier } from '../../src/verifier/index.js'
import {
  A,
  ADMIN_TOKEN,
  B,
  type ApprovalBroker,
  ceremonyOptions,
  deployManifest,
  enrol,
  form,
  ISSUER,
  json,
  makeApprovalBroker,
  poll,
  requestApproval,
  submit,
} from '../approvals/helpers.js'
import type { SoftAuthenticator } from '../approvals/fixtures/soft-authenticator.js'
import { testGrant } from '../helpers/grant.js'
import { type Endpoint, type RedisCluster, startRedisCluster } from '../helpers/redis-cluster.js'
import { eventually } from '../helpers/eventually.js'
import { outcome } from '../helpers/verifier.js'

const APP = 'https://git.example.com/acme/app'

const readManifest = (task = 'DOC-1') => ({
  task: { id: task, purpose: 'Read the docs', requested_by: 'carol@example.com' },
  ttl: '10m',
  grants: [{ type: 'repo', actions: ['read'], locations: [APP], identifier: 'docs/**' }],
})

let cluster: RedisCluster
let one: ApprovalBroker
let two: ApprovalBroker
let prefix: string

/** The slot of `key` (asked of the cluster itself). */
async function slotOf(key: string): Promise<number> {
  const node = new Redis(cluster.nodes[0]!.port, '127.0.0.1')
  try {
    return Number(await node.call('CLUSTER', 'KEYSLOT', key))
  } finally {
    node.disconnect()
  }
}

/** The cluster node that serves `key`'s slot (asked of the cluster itself). */
async function ownerOf(key: string): Promise<Endpoint> {
  const slot = await slotOf(key)
  const node = new Redis(cluster.nodes[0]!.port, '127.0.0.1')
  try {
    const ranges = (await node.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>
    const range = ranges.find(([from, to]) => slot >= from && slot <= to)
    if (!range) throw new Error(`no node serves slot ${slot}`)
    return cluster.nodes.find((n) => n.port === Number(range[2][1]))!
  } finally {
    node.disconnect()
  }
}

async function issue(broker: ApprovalBroker, client: [string, string] = A) {
  const res = await broker.call('POST', '/v1/tokens', { ...json(readManifest()), basic: client })
  expect(res.status).toBe(200)
  const body = await res.json()
  return { token: body.access_token as string, grantId: body.grant_id as string }
}

const introspect = async (broker: ApprovalBroker, token: string, client: [string, string] = A) =>
  (await broker.call('POST', '/oauth/introspect', { ...form({ token }), basic: client })).json()

beforeAll(async () => {
  cluster = await startRedisCluster(3)
  prefix = `writ-cluster-${randomBytes(4).toString('hex')}:`
  const config = {
    store: { kind: 'redis' as const, clusterNodes: cluster.nodes, keyPrefix: prefix },
    keys: { source: 'store' as const, kek: randomBytes(32).toString('base64') },
  }
  // Two replicas starting at once on an empty cluster must converge on one key set.
  ;[one, two] = await Promise.all([makeApprovalBroker({ config }), makeApprovalBroker({ config })])
}, 60_000)

afterAll(async () => {
  await one?.close()
  await two?.close()
  await cluster?.stop()
})

describe('two brokers on a 3-master Redis Cluster', () => {
  it('keeps the keys one script touches in one slot, and different clients in different slots', async () => {
    const keys = createStoreKeys(prefix)
    const a = await slotOf(keys.live('agent-a'))
    expect(await slotOf(keys.grant('agent-a', 'g1'))).toBe(a)
    expect(await slotOf(keys.tombstone('agent-a', 'g1'))).toBe(a)
    expect(await slotOf(keys.task('agent-a', 'DOC-1'))).toBe(a)
    expect(await slotOf(keys.live('agent-b'))).not.toBe(a)
    expect(await slotOf(keys.grant('agent-b', 'g1'))).toBe(await slotOf(keys.live('agent-b')))
  })

  it('revokes through one a token the other issued, and a cluster verifier refuses it', async () => {
    const { token, grantId } = await issue(one)
    // The verifier subscribes on a node that does not run the revocation script: the message
    // must cross the cluster bus to reach it.
    const owner = await ownerOf(createStoreKeys(prefix).grant('agent-a', grantId))
    const elsewhere = cluster.nodes.find((n) => n.port !== owner.port)!
    const lookups = new Cluster(cluster.nodes, { enableOfflineQueue: true })
    const verifier: Verifier = createVerifier({
      issuer: ISSUER,
      audience: APP,
      jwksUri: `${ISSUER}/.well-known/jwks.json`,
      fetch: async (input, init) => one.app.request(String(input), init),
      clock: one.clock,
      liveness: {
        mode: 'redis',
        redis: lookups,
        subscriber: `redis://${elsewhere.host}:${elsewhere.port}`,
        keyPrefix: prefix,
        cacheTtlSeconds: 3600,
      },
    })
    const answer = (): Promise<string> => outcome(verifier, token)
    try {
      await eventually('the verifier subscribed', async () => (verifier.status() as { subscribed: boolean }).subscribed)
      expect(await answer()).toBe('ok')
      // The grant is now cached as live by the verifier: only a revocation message can drop it.
      expect((verifier.status() as { cachedGrants: number }).cachedGrants).toBe(1)
      expect((await introspect(two, token)).active).toBe(true)

      const res = await two.call('POST', '/oauth/revoke', { ...form({ token }), basic: A })
      expect(res.status).toBe(200)
      expect(await introspect(one, token)).toEqual({ active: false })
      await eventually('the verifier refuses the revoked token', async () => (await answer()) === 'token_revoked')
    } finally {
      await verifier.close()
      lookups.disconnect()
    }
  })

  it('delivers revocation messages to a store subscriber whichever master runs the script', async () => {
    const received: string[] = []
    const unsubscribe = await one.store.revocations.subscribeRevocations((message) => {
      if ('grants' in message) received.push(...message.grants.map((g) => g.id))
    })
    try {
      const issued = [await issue(one, A), await issue(one, B)]
      for (const { token } of issued) {
        const client = token === issued[0]!.token ? A : B
        expect((await two.call('POST', '/oauth/revoke', { ...form({ token }), basic: client })).status).toBe(200)
      }
      await eventually('both messages arrived', async () => issued.every((i) => received.includes(i.grantId)))
    } finally {
      await unsubscribe()
    }
  })

  it('revokes every client’s grants across slots in one bulk revocation', async () => {
    const keys = createStoreKeys(prefix)
    // One command on keys of two slots fails on a Cluster (CROSSSLOT): this must go client by client.
    expect(await slotOf(keys.live('agent-a'))).not.toBe(await slotOf(keys.live('agent-b')))
    const issued = [await issue(one, A), await issue(two, B)]
    const by = { by: 'admin', reason: 'cluster test', at: Math.floor(two.clock() / 1000) }
    expect(await two.store.grants.revokeAll(by)).toBeGreaterThanOrEqual(2)
    expect(await introspect(one, issued[0]!.token, A)).toEqual({ active: false })
    expect(await introspect(one, issued[1]!.token, B)).toEqual({ active: false })
  })

  it('lists and revokes a task across slots, and sweeps every master on revoke-all', async () => {
    const keys = createStoreKeys(prefix)
    const task = `SLOTS-${randomBytes(3).toString('hex')}`
    const issueFor = async (broker: ApprovalBroker, client: [string, string], taskId: string) => {
      const res = await broker.call('POST', '/v1/tokens', { ...json(readManifest(taskId)), basic: client })
      expect(res.status).toBe(200)
      return (await res.json()).access_token as string
    }
    const tokens = [await issueFor(one, A, task), await issueFor(two, B, task)]
    // The index of clients is one key; the two clients' grants live on two other slots.
    expect(await slotOf(keys.live('agent-a'))).not.toBe(await slotOf(keys.live('agent-b')))
    const listed = await two.store.grants.listGrants({ taskId: task })
    expect(listed.map((g) => g.clientId).sort()).toEqual(['agent-a', 'agent-b'])
    const by = { by: 'admin', reason: 'cluster test', at: Math.floor(two.clock() / 1000) }
    expect(await two.store.grants.revokeByTask(task, by)).toBe(2)
    expect(await introspect(one, tokens[0]!, A)).toEqual({ active: false })
    expect(await introspect(one, tokens[1]!, B)).toEqual({ active: false })

    // Grants no index names (as a broker from before the index wrote them), one on every master:
    // revoke-all finds them by walking the key space of each.
    const old: Grant[] = []
    const covered = new Set<number>()
    for (let i = 0; covered.size < cluster.nodes.length; i++) {
      const clientId = `old-${i}-${task}`
      const owner = await ownerOf(keys.live(clientId))
      if (covered.has(owner.port)) continue
      covered.add(owner.port)
      const grant = testGrant(clientId, 600)
      await one.store.grants.createGrant(grant)
      old.push(grant)
    }
    const direct = new Cluster(cluster.nodes)
    try {
      await direct.del(keys.clients())
    } finally {
      direct.disconnect()
    }
    expect(await one.store.grants.listGrants({})).toEqual([])
    expect(await one.store.grants.revokeAll(by)).toBeGreaterThanOrEqual(old.length)
    for (const g of old) expect((await two.store.grants.getGrant(g.clientId, g.id)).state).toBe('revoked')
  })

  it('collects through one an approval created on the other and approved across both', async () => {
    const alice: SoftAuthenticator = one.authenticator()
    await enrol(one, alice, 'alice@example.com', 'release-managers')
    const pending = await requestApproval(one, A, deployManifest())

    const waiting = await poll(two, A, pending.auth_req_id)
    expect(waiting.status).toBe(400)
    expect((await waiting.json()).error).toBe('authorization_pending')

    // The ceremony starts on one and finishes on two: the challenge lives in the cluster.
    const options = await ceremonyOptions(one, pending.id, 'approve')
    const approved = await submit(two, pending.id, 'approve', alice.assert(options))
    expect(approved.status).toBe(200)

    two.clock.advance(5000)
    const collected = await poll(two, A, pending.auth_req_id)
    expect(collected.status).toBe(200)
    const { access_token } = await collected.json()
    expect((await introspect(one, access_token)).active).toBe(true)

    // Ensure the approval is redeemed once, whichever replica is asked.
    one.clock.advance(5000)
    const again = await poll(one, A, pending.auth_req_id)
    expect(again.status).toBe(400)
  })

  it('serves from the other’s JWKS, after a refresh, a key rotated on one', async () => {
    const jwks = async (b: ApprovalBroker) => (await b.call('GET', '/.well-known/jwks.json')).json()
    const before = await jwks(two)
    await one.keys.rotate({ force: true })
    await two.keys.refresh()
    const after = await jwks(two)
    expect(after).not.toEqual(before)
    expect(after).toEqual(await jwks(one))
    const { token } = await issue(one)
    expect((await introspect(two, token)).active).toBe(true)
  })

  it('honours on the other replica a client lock (read by the create script) and a task lock (read after it)', async () => {
    const keys = createStoreKeys(prefix)
    expect(await slotOf(keys.lockMarker({ kind: 'client', id: 'agent-b' }))).toBe(await slotOf(keys.live('agent-b')))
    for (const [target, manifest] of [
      [{ client_id: 'agent-b' }, readManifest('LOCK-C')],
      [{ task_id: 'LOCK-T' }, readManifest('LOCK-T')],
    ] as const) {
      const set = await one.call('POST', '/admin/locks', { ...json({ ...target, reason: 'cluster lock' }), bearer: ADMIN_TOKEN })
      expect(set.status).toBe(201)
      const { lock } = await set.json()
      const live = await two.store.grants.countLiveGrants('agent-b')
      const refused = await two.call('POST', '/v1/tokens', { ...json(manifest), basic: B })
      expect(refused.status).toBe(403)
      expect((await refused.json()).error_description).toContain(`(lock ${lock.id}: cluster lock)`)
      // Ensure nothing of the refused grant stays live (the task lock's grant is revoked at once).
      expect(await two.store.grants.countLiveGrants('agent-b')).toBe(live)
      expect((await two.call('DELETE', `/admin/locks/${lock.id}`, { bearer: ADMIN_TOKEN })).status).toBe(200)
      expect((await one.call('POST', '/v1/tokens', { ...json(manifest), basic: B })).status).toBe(200)
    }
  })

  // Last: it takes a master down for good.
  it('fails closed with 503 when the master of a client’s slot is gone', async () => {
    const { token } = await issue(one)
    await cluster.kill((await ownerOf(createStoreKeys(prefix).live('agent-a'))).port)
    const refused = await one.call('POST', '/v1/tokens', { ...json(readManifest()), basic: A })
    expect(refused.status).toBe(503)
    expect((await refused.json()).error).toBe('temporarily_unavailable')
    // Ensure a token whose grant cannot be looked up is not reported active.
    const seen = await two.call('POST', '/oauth/introspect', { ...form({ token }), basic: A })
    expect(seen.status).toBe(503)
  })
})
