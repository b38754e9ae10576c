import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  A,
  ADMIN_TOKEN,
  B,
  ceremonyOptions,
  deployManifest,
  enrolCast,
  form,
  json,
  makeApprovalBroker,
  poll,
  requestApproval,
  submit,
  type ApprovalBroker,
} from '../approvals/helpers.js'
import type { SoftAuthenticator } from '../approvals/fixtures/soft-authenticator.js'
import { docsManifest } from '../helpers/broker.js'

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const prefix = `writ-locks-${randomBytes(4).toString('hex')}:`
const config = {
  store: { kind: 'redis' as const, redisUrl, keyPrefix: prefix },
  keys: { source: 'store' as const, kek: randomBytes(32).toString('base64') },
}

/** Two replicas of one broker on one Redis. */
let one: ApprovalBroker
let two: ApprovalBroker
let alice: SoftAuthenticator
let bob: SoftAuthenticator

beforeAll(async () => {
  one = await makeApprovalBroker({ config })
  two = await makeApprovalBroker({ config })
  ;({ alice, bob } = await enrolCast(one))
})
afterAll(async () => {
  await one?.close()
  await two?.close()
  const redis = new Redis(redisUrl)
  const keys = await redis.keys(`${prefix}*`)
  if (keys.length) await redis.del(...keys)
  await redis.quit()
})

// A test that fails part-way leaves no lock behind for the next one.
afterEach(async () => {
  for (const l of await one.store.locks.listLocks()) await one.store.locks.removeLock(l.id)
})

const readDocs = (taskId: string) => docsManifest({ task: { id: taskId }, grants: docsManifest().grants.slice(0, 1) })

/** Locks through `via`'s admin API; answers the lock id. */
async function lock(via: ApprovalBroker, body: Record<string, unknown>): Promise<string> {
  const res = await via.call('POST', '/admin/locks', { ...json(body), bearer: ADMIN_TOKEN })
  expect(res.status).toBe(201)
  return (await res.json()).lock.id as string
}

async function unlock(via: ApprovalBroker, id: string): Promise<void> {
  const res = await via.call('DELETE', `/admin/locks/${id}`, { bearer: ADMIN_TOKEN })
  expect(res.status).toBe(200)
}

const approve = async (via: ApprovalBroker, auth: SoftAuthenticator, id: string, action: 'approve' | 'deny' = 'approve') =>
  submit(via, id, action, auth.assert(await ceremonyOptions(via, id, action)))

/** Expects an RFC 6749 access_denied naming the lock. */
async function expectLocked(res: Awaited<ReturnType<ApprovalBroker['call']>>, lockId: string, status = 403) {
  expect(res.status).toBe(status)
  const body = await res.json()
  expect(body.error).toBe('access_denied')
  expect(body.error_description).toContain(`(lock ${lockId}: `)
}

describe('locks on two replicas sharing one Redis', () => {
  it('a lock set through one replica refuses the very next request on the other; unlocking there frees it', async () => {
    const id = await lock(one, { client_id: 'agent-b', reason: 'compromised runner' })
    await expectLocked(await two.call('POST', '/v1/tokens', { ...json(readDocs('REP-1')), basic: B }), id)
    const cc = await two.call('POST', '/oauth/token', {
      ...form({ grant_type: 'client_credentials', task_id: 'REP-1', authorization_details: JSON.stringify(readDocs('REP-1').grants) }),
      basic: B,
    })
    await expectLocked(cc, id)
    const listed = await (await two.call('GET', '/admin/locks', { bearer: ADMIN_TOKEN })).json()
    expect(listed.locks).toContainEqual(expect.objectContaining({ id, client_id: 'agent-b', reason: 'compromised runner' }))
    await unlock(two, id)
    expect((await one.call('POST', '/v1/tokens', { ...json(readDocs('REP-1')), basic: B })).status).toBe(200)
  })

  it('a task lock refuses that task to every client, and revokes its live grants everywhere', async () => {
    const live = await (await two.call('POST', '/v1/tokens', { ...json(readDocs('REP-2')), basic: A })).json()
    const res = await one.call('POST', '/admin/locks', { ...json({ task_id: 'REP-2', reason: 'incident 12' }), bearer: ADMIN_TOKEN })
    expect(res.status).toBe(201)
    const { lock: created, revoked } = await res.json()
    expect(revoked).toBe(1)
    expect((await two.store.grants.getGrant('agent-a', live.grant_id)).state).toBe('revoked')
    for (const client of [A, B]) {
      await expectLocked(await two.call('POST', '/v1/tokens', { ...json(readDocs('REP-2')), basic: client }), created.id)
    }
    expect((await two.call('POST', '/v1/tokens', { ...json(readDocs('REP-3')), basic: A })).status).toBe(200)
    await unlock(one, created.id)
  })

  it('names the field of a bad lock request, and locks nothing', async () => {
    const bad = [
      [{ reason: 'x' }, 'exactly one of client_id, task_id, approver is required'],
      [{ client_id: 'agent-a', task_id: 'T', reason: 'x' }, 'got client_id, task_id'],
      [{ client_id: 'agent-a' }, 'reason'],
      [{ client_id: 'agent-a', reason: 'x', ttl_seconds: 0 }, 'ttl_seconds'],
      [{ client_id: 'agent-a', reason: 'x', revoke: 'no' }, 'revoke'],
    ] as const
    for (const [body, message] of bad) {
      const res = await one.call('POST', '/admin/locks', { ...json(body), bearer: ADMIN_TOKEN })
      expect(res.status).toBe(400)
      const answer = await res.json()
      expect(answer.error).toBe('invalid_request')
      expect(answer.error_description).toContain(message)
    }
    expect((await (await one.call('GET', '/admin/locks', { bearer: ADMIN_TOKEN })).json()).locks).toEqual([])
    const unknown = await one.call('DELETE', '/admin/locks/no-such-lock', { bearer: ADMIN_TOKEN })
    expect(unknown.status).toBe(404)
    expect((await one.call('POST', '/admin/locks', json({ client_id: 'agent-a', reason: 'x' }))).status).toBe(401)
  })
})

describe('locks and human approval', () => {
  it('refuses a locked client a new approval request, by CIBA and by /v1/tokens', async () => {
    const id = await lock(one, { client_id: 'agent-a', reason: 'paused' })
    const ciba = await two.call('POST', '/oauth/bc-authorize', {
      ...form({ task_id: 'REL-1', requested_by: 'carol@example.com', authorization_details: JSON.stringify(deployManifest().grants) }),
      basic: A,
    })
    await expectLocked(ciba, id)
    await expectLocked(await two.call('POST', '/v1/tokens', { ...json(deployManifest()), basic: A }), id)
    expect(one.webhooks.filter((w) => String(w.init.body).includes('"client_id":"agent-a"'))).toEqual([])
    await unlock(one, id)
  })

  it('refuses to collect an approved token while the client is locked, and hands it out after unlock', async () => {
    const pending = await requestApproval(one, A, deployManifest({ task: { id: 'REL-2', requested_by: 'carol@example.com' } }))
    expect((await approve(one, alice, pending.id)).status).toBe(200)
    // Without revoke: a lock that revokes ends the request instead (lock-ends-approvals.test.ts).
    const id = await lock(two, { client_id: 'agent-a', reason: 'collecting frozen', revoke: false })
    await expectLocked(await poll(one, A, pending.auth_req_id), id)
    await unlock(two, id)
    expect((await poll(one, A, pending.auth_req_id)).status).toBe(200)
  })

  it('refuses a locked approver\'s approval and denial: their vote counts for nothing', async () => {
    const pending = await requestApproval(one, A, deployManifest({ task: { id: 'REL-3', requested_by: 'carol@example.com' } }))
    // People compare case-insensitively, as approval rules compare them.
    const id = await lock(two, { approver: ' Alice@Example.COM', reason: 'key may be cloned', revoke: false })
    await expectLocked(await approve(one, alice, pending.id), id)
    await expectLocked(await approve(two, alice, pending.id, 'deny'), id)
    expect((await (await poll(one, A, pending.auth_req_id)).json()).error).toBe('authorization_pending')
    // Another approver still decides.
    expect(await (await approve(one, bob, pending.id)).json()).toMatchObject({ status: 'approved', approver: 'bob@example.com' })
    one.clock.advance(10_000)
    expect((await poll(one, A, pending.auth_req_id)).status).toBe(200)
    await unlock(one, id)
  })

  it('refuses to collect a token whose approval came from an approver locked since', async () => {
    const pending = await requestApproval(one, A, deployManifest({ task: { id: 'REL-4', requested_by: 'carol@example.com' } }))
    expect((await approve(one, alice, pending.id)).status).toBe(200)
    const id = await lock(one, { approver: 'alice@example.com', reason: 'lost key' })
    await expectLocked(await poll(two, A, pending.auth_req_id), id)
    await unlock(one, id)
  })

  it('lets nobody approve a request of a locked task', async () => {
    const pending = await requestApproval(one, A, deployManifest({ task: { id: 'REL-5', requested_by: 'carol@example.com' } }))
    const id = await lock(two, { task_id: 'REL-5', reason: 'change freeze', ttl_seconds: 3600, revoke: false })
    await expectLocked(await approve(one, bob, pending.id), id)
    // A denial is still taken: it can only stop the request.
    expect(await (await approve(one, bob, pending.id, 'deny')).json()).toMatchObject({ status: 'denied' })
    await unlock(two, id)
  })
})
