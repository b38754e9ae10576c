import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AuditEvent } from '../../src/audit/types.js'
import { manualClock } from '../../src/clock.js'
import type { ConfigInput } from '../../src/config.js'
import { createMemoryStore, type Store } from '../../src/open-store.js'
import type { GrantStore } from '../../src/grants/store.js'
import type { SoftAuthenticator } from '../approvals/fixtures/soft-authenticator.js'
import {
  A,
  ADMIN_TOKEN,
  approvalPolicyText,
  B,
  ceremonyOptions,
  deployManifest,
  enrol,
  enrolCast,
  json,
  makeApprovalBroker,
  migrateManifest,
  poll,
  requestApproval,
  submit,
  type ApprovalBroker,
  type Cast,
} from '../approvals/helpers.js'
import { deleteKeysWithPrefix } from '../helpers/redis.js'

/*
 * Issue 19, points 1 and 11, attacked through the HTTP API: a revocation must reach approval
 * requests whose token was not collected yet, a vote the broker would refuse now must not mint a
 * token, and one client must not be able to flood approvers with requests.
 */

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const RUN_PREFIX = `writ-test-${randomBytes(6).toString('hex')}:`
let prefixes = 0

/** Config for a broker on the memory store, or on Redis under a prefix of its own. */
const storeConfig = (kind: 'memory' | 'redis'): ConfigInput =>
  kind === 'redis'
    ? {
        store: { kind: 'redis', redisUrl: REDIS_URL, keyPrefix: `${RUN_PREFIX}${++prefixes}:` },
        keys: { source: 'store', kek: randomBytes(32).toString('base64') },
      }
    : {}

afterAll(async () => {
  const redis = new Redis(REDIS_URL)
  await deleteKeysWithPrefix(redis, RUN_PREFIX)
  await redis.quit()
})

type Pending = Awaited<ReturnType<typeof requestApproval>>

const deploy = (task: string) => deployManifest({ task: { id: task, requested_by: 'carol@example.com' } })
const migrate = (task: string) => ({ ...migrateManifest(), task: { id: task, requested_by: 'frank@example.com' } })

/** Approves `id` with `auth` (its first key, or `credentialId`). */
async function approve(broker: ApprovalBroker, auth: SoftAuthenticator, id: string, credentialId?: string) {
  const options = await ceremonyOptions(broker, id, 'approve')
  const res = await submit(broker, id, 'approve', auth.assert(options, credentialId ? { credentialId } : {}))
  expect(res.status).toBe(200)
  return res.json()
}

/** Polls after the interval has passed; answers the error code, or the token's claims. */
async function collect(broker: ApprovalBroker, client: [string, string], pending: Pending) {
  broker.clock.advance(6_000)
  const res = await poll(broker, client, pending.auth_req_id)
  const body = await res.json()
  if (res.status === 200) return { token: decodeJwt(body.access_token as string) }
  expect(res.status).toBe(400)
  expect(body.access_token).toBeUndefined()
  return { error: body.error as string, description: body.error_description as string }
}

const admin = (broker: ApprovalBroker, path: string, body: unknown) =>
  broker.call('POST', path, { ...json(body), bearer: ADMIN_TOKEN })

const eventsOf = (broker: ApprovalBroker, approvalId: string): Promise<AuditEvent[]> =>
  broker.audit.log!.find({ approvalId })

describe.each(['memory', 'redis'] as const)('revocations reach approval requests (%s store)', (kind) => {
  let broker: ApprovalBroker
  let cast: Cast

  beforeAll(async () => {
    broker = await makeApprovalBroker({ config: storeConfig(kind) })
    cast = await enrolCast(broker)
  })
  afterAll(() => broker?.close())

  /** An approved, uncollected request and a pending one of `client` for `task` (and task+'-P'). */
  async function openRequests(client: [string, string], task: string) {
    const approved = await requestApproval(broker, client, deploy(task))
    await approve(broker, cast.alice, approved.id)
    const pending = await requestApproval(broker, client, deploy(`${task}-P`))
    return { approved, pending }
  }

  /** The request answers access_denied, takes no decision, and its end is audited with the reason. */
  async function expectEnded(client: [string, string], pending: Pending, reason: string) {
    expect(await collect(broker, client, pending)).toMatchObject({ error: 'access_denied' })
    // A second poll answers the same: the request stays ended.
    expect(await collect(broker, client, pending)).toMatchObject({ error: 'access_denied' })
    const late = await broker.call('POST', `/approve/${pending.id}/options`, json({ action: 'approve' }))
    expect(late.status).toBe(409)
    const ended = (await eventsOf(broker, pending.id)).filter((e) => e.type === 'approval.revoked')
    expect(ended).toHaveLength(1)
    expect(ended[0]).toMatchObject({ actor: 'admin', approval: pending.id, client: client[0], reason })
  }

  it('revoke --client ends that client\'s approved-uncollected and pending requests, and only its', async () => {
    const a = await openRequests(A, 'RVC-A')
    const b = await openRequests(B, 'RVC-B')
    const res = await admin(broker, '/admin/revocations', { client_id: 'agent-a', reason: 'agent-a compromised' })
    expect(res.status).toBe(200)
    await expectEnded(A, a.approved, 'agent-a compromised')
    await expectEnded(A, a.pending, 'agent-a compromised')
    expect(await res.json()).toEqual({ revoked: 0, descendants_revoked: 0, approvals_revoked: 2 })
    expect(await collect(broker, B, b.approved)).toMatchObject({ token: { client_id: 'agent-b' } })
    expect(await collect(broker, B, b.pending)).toMatchObject({ error: 'authorization_pending' })
  })

  it('revoke --task ends that task\'s requests of every client', async () => {
    const a = await requestApproval(broker, A, deploy('RVT-1'))
    const b = await requestApproval(broker, B, deploy('RVT-1'))
    await approve(broker, cast.bob, b.id)
    const other = await requestApproval(broker, A, deploy('RVT-2'))
    await approve(broker, cast.bob, other.id)
    const res = await admin(broker, '/admin/revocations', { task_id: 'RVT-1', reason: 'task cancelled' })
    await expectEnded(A, a, 'task cancelled')
    await expectEnded(B, b, 'task cancelled')
    expect(await res.json()).toEqual({ revoked: 0, descendants_revoked: 0, approvals_revoked: 2 })
    expect(await collect(broker, A, other)).toHaveProperty('token')
  })

  it('revoke --approver ends the requests holding that person\'s vote, and no other', async () => {
    const byAlice = await requestApproval(broker, A, deploy('RVP-1'))
    await approve(broker, cast.alice, byAlice.id)
    const byBob = await requestApproval(broker, A, deploy('RVP-2'))
    await approve(broker, cast.bob, byBob.id)
    const halfByAlice = await requestApproval(broker, A, migrate('RVP-3'))
    const res = await admin(broker, '/admin/revocations', { approver: 'alice@example.com', reason: 'alice phished' })
    await expectEnded(A, byAlice, 'alice phished')
    expect(await res.json()).toMatchObject({ approvals_revoked: 1 })
    expect(await collect(broker, A, byBob)).toHaveProperty('token')
    expect(await collect(broker, A, halfByAlice)).toMatchObject({ error: 'authorization_pending' })
  })

  it('approvers disable --revoke ends the requests its owner approved: no token names the disabled key', async () => {
    const spare = broker.authenticator()
    const spareKey = await enrol(broker, spare, 'bob@example.com', 'release-managers')
    const pending = await requestApproval(broker, A, deploy('RVK-1'))
    await approve(broker, spare, pending.id)
    const res = await admin(broker, `/admin/approvers/keys/${spareKey}/disable`, { reason: 'stolen', revoke: true })
    await expectEnded(A, pending, 'approver key disabled: stolen')
    expect(await res.json()).toMatchObject({ disabled: true, approver: 'bob@example.com', approvals_revoked: 1 })
  })

  it('a revocation racing the collection leaves no live token: access_denied, or a token whose grant it revoked', async () => {
    const outcomes = new Set<string>()
    for (let i = 0; i < 24; i++) {
      const pending = await requestApproval(broker, A, deploy(`RACE-${i}`))
      await approve(broker, cast.alice, pending.id)
      broker.clock.advance(6_000)
      const later = async () => {
        for (let tick = 0; tick < i; tick++) await new Promise((resolve) => setImmediate(resolve))
        return admin(broker, '/admin/revocations', { client_id: 'agent-a', reason: 'race' })
      }
      const [polled, revoked] = await Promise.all([poll(broker, A, pending.auth_req_id), later()])
      expect(revoked.status).toBe(200)
      const body = await polled.json()
      if (polled.status === 200) {
        outcomes.add('token')
        expect((await broker.store.grants.getGrant('agent-a', body.grant_id)).state).toBe('revoked')
      } else {
        outcomes.add(body.error)
        expect(body.error).toBe('access_denied')
      }
    }
    expect(outcomes.has('access_denied')).toBe(true)
  })

  it('revoke --all ends every open request, whichever client, and a no-human CIBA request too', async () => {
    const a = await openRequests(A, 'RVA-A')
    const b = await openRequests(B, 'RVA-B')
    const ciba = await broker.call('POST', '/oauth/bc-authorize', {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        task_id: 'RVA-DOCS',
        authorization_details: JSON.stringify([
          { type: 'repo', actions: ['read'], locations: ['https://git.example.com/acme/app'], identifier: 'docs/**' },
        ]),
      }).toString(),
      basic: A,
    })
    const docs = (await ciba.json()) as Pending
    const res = await admin(broker, '/admin/revocations', { all: true, reason: 'incident 7' })
    for (const [client, p] of [[A, a.approved], [A, a.pending], [B, b.approved], [B, b.pending]] as const) {
      await expectEnded(client, p, 'incident 7')
    }
    expect(await collect(broker, A, docs)).toMatchObject({ error: 'access_denied' })
    expect((await res.json()).approvals_revoked).toBeGreaterThanOrEqual(5)
  })
})

describe.each(['memory', 'redis'] as const)('every vote is checked again at collection (%s store)', (kind) => {
  let broker: ApprovalBroker
  let cast: Cast

  beforeAll(async () => {
    broker = await makeApprovalBroker({ config: storeConfig(kind) })
    cast = await enrolCast(broker)
  })
  afterAll(() => broker?.close())

  it('a vote by a key disabled after it approved does not count: pending again, and the token names only live keys', async () => {
    const spare = broker.authenticator()
    const spareKey = await enrol(broker, spare, 'bob@example.com', 'release-managers')
    const pending = await requestApproval(broker, A, deploy('VC-1'))
    expect(await approve(broker, spare, pending.id)).toMatchObject({ status: 'approved' })
    const res = await admin(broker, `/admin/approvers/keys/${spareKey}/disable`, { reason: 'lost' })
    expect(res.status).toBe(200)

    expect(await collect(broker, A, pending)).toMatchObject({ error: 'authorization_pending' })
    const withdrawn = (await eventsOf(broker, pending.id)).filter((e) => e.type === 'approval.rejected')
    expect(withdrawn).toEqual([
      expect.objectContaining({ actor: 'system', credential_id: spareKey, reason: expect.stringMatching(/flagged \(disabled\)/) }),
    ])
    // Another approver completes it; the token's approval claim names that key only.
    expect(await approve(broker, cast.alice, pending.id)).toMatchObject({ status: 'approved', approvals: 1 })
    const { token } = await collect(broker, A, pending)
    expect(token?.approval).toMatchObject({
      approvers: [{ sub: 'alice@example.com', credential_id: cast.keys.alice }],
    })
  })

  it('a 2-of-M request with one vote from a since-disabled key is back to pending, then needs a fresh vote', async () => {
    const spare = broker.authenticator()
    const spareKey = await enrol(broker, spare, 'dana@example.com', 'dbas')
    const pending = await requestApproval(broker, A, migrate('VC-2'))
    await approve(broker, spare, pending.id)
    expect(await approve(broker, cast.erin, pending.id)).toMatchObject({ status: 'approved' })
    await admin(broker, `/admin/approvers/keys/${spareKey}/disable`, { reason: 'left on a train' })

    expect(await collect(broker, A, pending)).toMatchObject({ error: 'authorization_pending' })
    // Dana may approve again with her other key; erin's vote still counts.
    expect(await approve(broker, cast.dana, pending.id)).toMatchObject({ status: 'approved', approvals: 2 })
    const { token } = await collect(broker, A, pending)
    const approvers = (token?.approval as { approvers: Array<{ credential_id: string }> }).approvers
    expect(approvers.map((a) => a.credential_id).sort()).toEqual([cast.keys.dana, cast.keys.erin].sort())
  })

  it('a vote by a since-disabled key does not complete a 2-of-M request', async () => {
    const spare = broker.authenticator()
    const spareKey = await enrol(broker, spare, 'dana@example.com', 'dbas')
    const pending = await requestApproval(broker, A, migrate('VC-3'))
    await approve(broker, spare, pending.id)
    await admin(broker, `/admin/approvers/keys/${spareKey}/disable`, { reason: 'lost' })
    expect(await approve(broker, cast.erin, pending.id)).toMatchObject({ status: 'pending', approvals: 2 })
    expect(await collect(broker, A, pending)).toMatchObject({ error: 'authorization_pending' })
  })
})

describe('a revocation that lands while a token is being minted', () => {
  it('reaches the token: its grant is revoked and the poll answers access_denied', async () => {
    // The grant store holds the recording of the grant until released: the revocation runs in
    // between, after the request was redeemed and before its grant exists.
    const inner = createMemoryStore({ clock: manualClock(Date.now()) })
    let release: () => void = () => undefined
    let reached: () => void = () => undefined
    const atRecording = new Promise<void>((resolve) => (reached = resolve))
    const gate = new Promise<void>((resolve) => (release = resolve))
    let holding = false
    const store: Store = {
      ...inner,
      grants: {
        ...inner.grants,
        async createGrant(...args: Parameters<GrantStore['createGrant']>) {
          if (holding) {
            reached()
            await gate
          }
          return inner.grants.createGrant(...args)
        },
      },
    }
    const broker = await makeApprovalBroker({ store })
    try {
      const cast = await enrolCast(broker)
      const pending = await requestApproval(broker, A, deploy('MINTING-1'))
      await approve(broker, cast.alice, pending.id)
      holding = true
      const polled = poll(broker, A, pending.auth_req_id)
      await atRecording
      const revoked = await admin(broker, '/admin/revocations', { client_id: 'agent-a', reason: 'mid-mint' })
      expect(revoked.status).toBe(200)
      release()
      const res = await polled
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ error: 'access_denied' })
      const [grant] = await inner.grants.listGrants({ clientId: 'agent-a' })
      expect(grant).toBeUndefined()
      const events = await broker.audit.log!.find({ taskId: 'MINTING-1' })
      expect(events.filter((e) => e.type === 'grant.revoked').at(-1)).toMatchObject({
        scope: 'grant',
        reason: 'approval request revoked while its token was minted: mid-mint',
      })
    } finally {
      await broker.close()
    }
  })
})

describe('revocations and vote checks across a policy change (redis, replicas sharing one store)', () => {
  let broker: ApprovalBroker
  let cast: Cast
  const replicas: ApprovalBroker[] = []

  beforeAll(async () => {
    broker = await makeApprovalBroker({ config: storeConfig('redis') })
    cast = await enrolCast(broker)
  })
  afterAll(async () => {
    for (const r of replicas) await r.close()
    await broker?.close()
  })

  /** A replica on the same store whose policy is this one's, edited. */
  async function replica(edit: (policy: string) => string): Promise<ApprovalBroker> {
    const r = await makeApprovalBroker({ store: broker.store, policyText: edit(await approvalPolicyText()) })
    replicas.push(r)
    return r
  }
  const withoutAgentB = (p: string) => p.replace(/\n {2}- \{ id: agent-b[^\n]*/, '')

  it('revoke --all and --task on a replica whose policy no longer lists the client end its requests', async () => {
    const byAll = await requestApproval(broker, B, deploy('GONE-1'))
    await approve(broker, cast.alice, byAll.id)
    const byTask = await requestApproval(broker, B, deploy('GONE-2'))
    await approve(broker, cast.alice, byTask.id)
    const other = await replica(withoutAgentB)
    expect(other.policy.current().clients.has('agent-b')).toBe(false)

    const task = await admin(other, '/admin/revocations', { task_id: 'GONE-2', reason: 'cancelled' })
    expect(await collect(broker, B, byTask)).toMatchObject({ error: 'access_denied' })
    expect(await task.json()).toMatchObject({ approvals_revoked: 1 })

    const all = await admin(other, '/admin/revocations', { all: true, reason: 'agent-b removed and revoked' })
    expect(await collect(broker, B, byAll)).toMatchObject({ error: 'access_denied' })
    expect((await all.json()).approvals_revoked).toBeGreaterThanOrEqual(1)
  })

  it('a vote by a person since removed from the group does not count; a request that can no longer complete is ended', async () => {
    const pending = await requestApproval(broker, A, migrate('LEFT-1'))
    await approve(broker, cast.dana, pending.id)
    expect(await approve(broker, cast.erin, pending.id)).toMatchObject({ status: 'approved' })
    // erin leaves dbas; the rule now needs one approver of a group of one.
    const other = await replica((p) =>
      p
        .replace('members: [dana@example.com, erin@example.com]', 'members: [dana@example.com]')
        .replace('approval: { approvers: 2, from: dbas }', 'approval: { approvers: 1, from: dbas }'),
    )
    const answer = await collect(other, A, pending)
    expect(answer).toMatchObject({ error: 'access_denied' })
    const ended = (await eventsOf(other, pending.id)).filter((e) => e.type === 'approval.revoked')
    expect(ended).toEqual([
      expect.objectContaining({ actor: 'system', reason: expect.stringMatching(/erin@example.com is no longer an approver/) }),
    ])
  })

  it('a vote by a person since removed from the group does not count: pending again while others can still approve', async () => {
    const pending = await requestApproval(broker, A, migrate('LEFT-2'))
    await approve(broker, cast.dana, pending.id)
    expect(await approve(broker, cast.erin, pending.id)).toMatchObject({ status: 'approved' })
    const other = await replica((p) =>
      p.replace('members: [dana@example.com, erin@example.com]', 'members: [dana@example.com, zoe@example.com]'),
    )
    expect(await collect(other, A, pending)).toMatchObject({ error: 'authorization_pending' })
  })
})

describe.each(['memory', 'redis'] as const)('approval requests are bounded per client (%s store)', (kind) => {
  let broker: ApprovalBroker

  beforeAll(async () => {
    broker = await makeApprovalBroker({ config: storeConfig(kind) })
    // Requests that no enrolled key could approve are refused before the bounds are reached.
    await enrolCast(broker)
  })
  afterAll(() => broker?.close())

  const ask = (client: [string, string], manifest: unknown, on: ApprovalBroker = broker) =>
    on.call('POST', '/v1/tokens', { ...json(manifest), basic: client })
  const settle = () => new Promise((resolve) => setTimeout(resolve, 20))

  it('300 requests at once from one client: 20 (the default cap) wait for a human, the rest get 429 naming the limit', async () => {
    const before = broker.webhooks.length
    const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => ask(A, deploy(`FLOOD-${i}`))))
    const accepted = answers.filter((r) => r.status === 202)
    const refused = answers.filter((r) => r.status === 429)
    expect(accepted).toHaveLength(20)
    expect(refused).toHaveLength(280)
    const body = await refused[0]!.json()
    expect(body.error).toBe('quota_exceeded')
    expect(body.error_description).toMatch(/limit of 20 approval requests waiting for a human \(max_pending_approvals\)/)
    expect(refused[0]!.headers.get('retry-after')).toMatch(/^\d+$/)
    await settle()
    expect(broker.webhooks.length - before).toBe(20)
    // Another client is not held back by this one.
    expect((await ask(B, deploy('FLOOD-B'))).status).toBe(202)
  })

  it('follows the client\'s max_pending_approvals, and frees a place once a request is decided', async () => {
    const policy = (await approvalPolicyText()).replace(
      /(\n {2}- \{ id: agent-b[^\n]*)\}/,
      '$1, max_pending_approvals: 3 }',
    )
    const capped = await makeApprovalBroker({ config: storeConfig(kind), policyText: policy })
    try {
      const cast = await enrolCast(capped)
      const first = [] as Awaited<ReturnType<typeof ask>>[]
      for (const task of ['CAP-1', 'CAP-2', 'CAP-3']) first.push(await ask(B, deploy(task), capped))
      expect(first.map((r) => r.status)).toEqual([202, 202, 202])
      const over = await ask(B, deploy('CAP-4'), capped)
      expect(over.status).toBe(429)
      expect((await over.json()).error_description).toMatch(/limit of 3 /)
      const decided = (await first[0]!.json()) as Pending
      await approve(capped, cast.alice, decided.auth_req_id.split('.')[0]!)
      expect((await ask(B, deploy('CAP-4'), capped)).status).toBe(202)
    } finally {
      await capped.close()
    }
  })

  it('coalesces identical pending requests: one approval, one notification, a handle each, one token', async () => {
    const before = broker.webhooks.length
    const answers = await Promise.all(Array.from({ length: 40 }, () => ask(B, deploy('COAL-1'))))
    // One request is stored; 16 identical ones join it with handles of their own; the rest wait.
    const accepted = await Promise.all(answers.filter((r) => r.status === 202).map((r) => r.json()))
    expect(accepted).toHaveLength(17)
    expect(new Set(accepted.map((p) => p.approval_uri)).size).toBe(1)
    expect(new Set(accepted.map((p) => p.auth_req_id)).size).toBe(17)
    const refused = answers.filter((r) => r.status === 429)
    expect(refused).toHaveLength(23)
    expect((await refused[0]!.json()).error_description).toMatch(/already has 16 handles waiting/)
    await settle()
    expect(broker.webhooks.length - before).toBe(1)

    // A different task is a different request.
    const different = (await (await ask(B, deploy('COAL-2'))).json()) as Pending
    expect(different.approval_uri).not.toBe(accepted[0].approval_uri)

    const cast = await enrolCast(broker)
    const id = (accepted[0].auth_req_id as string).split('.')[0]!
    await approve(broker, cast.alice, id)
    const [one, two] = [accepted[3] as Pending, accepted[9] as Pending]
    // Another client cannot collect with a handle of this one.
    expect(await collect(broker, A, accepted[12] as Pending)).toMatchObject({ error: 'invalid_grant' })
    expect(await collect(broker, B, one)).toHaveProperty('token')
    expect(await collect(broker, B, two)).toMatchObject({ error: 'invalid_grant' })
  })

  it('an identical request made after the first was decided is a new request', async () => {
    const cast = await enrolCast(broker)
    const first = (await (await ask(B, deploy('AGAIN-1'))).json()) as Pending
    await approve(broker, cast.alice, first.auth_req_id.split('.')[0]!)
    const second = (await (await ask(B, deploy('AGAIN-1'))).json()) as Pending
    expect(second.approval_uri).not.toBe(first.approval_uri)
  })
})
