import { randomBytes, randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdminToken } from '../../src/admin/index.js'
import { epochSeconds } from '../../src/clock.js'
import type { Grant } from '../../src/grants/grant.js'
import type { RevocationMessage } from '../../src/wire/revocation-message.js'
import { eventually, idsIn } from '../grants/store-contract.js'
import {
  docsManifest,
  form,
  json,
  makeTestBroker,
  SECRETS,
  type TestBroker,
} from '../helpers/broker.js'
import { deleteKeysWithPrefix } from '../helpers/redis.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
const B: [string, string] = ['agent-b', SECRETS['agent-b']]
/** The resource server of the test policy: it may introspect every client's tokens. */
const RS: [string, string] = ['docs-service', SECRETS['docs-service']]
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

let admin: { token: string; tokenHash: string }
beforeAll(async () => {
  admin = await createAdminToken()
})

describe.each(['memory', 'redis'] as const)('admin API on the %s store', (kind) => {
  const prefix = `writ-admin-${randomBytes(4).toString('hex')}:`
  let broker: TestBroker
  const messages: RevocationMessage[] = []
  let unsubscribe: () => Promise<void>

  beforeAll(async () => {
    broker = await makeTestBroker({
      config: {
        admin: { tokenHash: admin.tokenHash },
        ...(kind === 'redis'
          ? {
              store: { kind: 'redis', redisUrl: REDIS_URL, keyPrefix: prefix },
              keys: { source: 'store', kek: randomBytes(32).toString('base64') },
            }
          : {}),
      },
    })
    unsubscribe = await broker.store.revocations.subscribeRevocations((m) => messages.push(m))
  })
  afterAll(async () => {
    await unsubscribe?.()
    await broker?.close()
    if (kind !== 'redis') return
    const redis = new Redis(REDIS_URL)
    await deleteKeysWithPrefix(redis, prefix)
    await redis.quit()
  })

  const bearer = (): RequestInit => ({ headers: { authorization: `Bearer ${admin.token}` } })

  const adminGet = (path: string) => broker.call('GET', path, bearer())

  const revoke = (body: unknown, init: RequestInit = json(body)) =>
    broker.call('POST', '/admin/revocations', {
      ...init,
      headers: {
        ...(init.headers as Record<string, string>),
        authorization: `Bearer ${admin.token}`,
      },
    })

  async function issue(basic: [string, string] = A, taskId = `T-${randomUUID()}`) {
    const grants = docsManifest().grants.slice(0, 1)
    const manifest = docsManifest({ task: { id: taskId }, grants })
    const res = await broker.call('POST', '/v1/tokens', { ...json(manifest), basic })
    expect(res.status).toBe(200)
    return (await res.json()) as { access_token: string; grant_id: string }
  }

  const active = async (token: string): Promise<boolean> => {
    const res = await broker.call('POST', '/oauth/introspect', { ...form({ token }), basic: RS })
    return (await res.json()).active
  }

  /** Waits until the subscriber has seen every id; returns the messages since `from`. */
  const heard = async (from: number, ids: string[]): Promise<RevocationMessage[]> => {
    await eventually(
      () => ids.every((id) => idsIn(messages.slice(from)).includes(id)),
      'the revocation messages',
    )
    return messages.slice(from)
  }

  /** A grant a human approved, recorded directly (approval routes belong to another part). */
  async function approvedGrant(clientId: string, ...approvers: string[]): Promise<Grant> {
    const now = epochSeconds(broker.clock)
    const grant: Grant = {
      id: randomUUID(),
      clientId,
      task: { id: `DEPLOY-${randomUUID()}` },
      manifestSha256: 'ab'.repeat(32),
      authorizationDetails: [
        { type: 'deploy', actions: ['create'], locations: ['https://deploy.example.com/acme/app'] },
      ],
      ruleIds: ['deploy-prod'],
      approval: {
        id: randomUUID(),
        manifestSha256: 'ab'.repeat(32),
        approvers: approvers.map((sub, i) => ({
          sub,
          aaguid: 'ee882879-721c-4913-9775-3dfcce97072a',
          credentialId: `cred-${i}`,
          at: now,
        })),
      },
      issuedAt: now,
      expiresAt: now + 600,
    }
    await broker.store.grants.createGrant(grant)
    return grant
  }

  describe('GET /admin/grants', () => {
    it('lists live grants of every client with a summary of each', async () => {
      const a = await issue(A)
      const b = await issue(B)
      const res = await adminGet('/admin/grants')
      expect(res.status).toBe(200)
      const body = await res.json()
      const ids = body.grants.map((g: { id: string }) => g.id)
      expect(ids).toEqual(expect.arrayContaining([a.grant_id, b.grant_id]))
      expect(body.total).toBe(body.grants.length)
      expect(body.truncated).toBe(false)
      const summary = body.grants.find((g: { id: string }) => g.id === a.grant_id)
      expect(summary).toMatchObject({
        client_id: 'agent-a',
        grants: ['repo read on https://git.example.com/acme/app docs/**'],
        approved_by: [],
      })
      expect(summary.expires_at).toBeGreaterThan(epochSeconds(broker.clock))
    })

    it('filters by client and by task, and shows who approved', async () => {
      const task = `T-${randomUUID()}`
      const a = await issue(A, task)
      await issue(B, task)
      await issue(A)
      const approved = await approvedGrant('agent-a', 'alice@example.com', 'bob@example.com')
      const byTask = await (await adminGet(`/admin/grants?client=agent-a&task=${task}`)).json()
      expect(byTask.grants.map((g: { id: string }) => g.id)).toEqual([a.grant_id])
      const all = await (await adminGet(`/admin/grants?client=agent-a`)).json()
      const shown = all.grants.find((g: { id: string }) => g.id === approved.id)
      expect(shown.approved_by).toEqual(['alice@example.com', 'bob@example.com'])
      const none = await (await adminGet(`/admin/grants?client=nobody`)).json()
      expect(none).toEqual({ grants: [], total: 0, truncated: false })
    })

    it('shows at most limit grants and says how many there are', async () => {
      await issue(A)
      await issue(A)
      const body = await (await adminGet('/admin/grants?limit=1')).json()
      expect(body.grants).toHaveLength(1)
      expect(body.total).toBeGreaterThanOrEqual(2)
      expect(body.truncated).toBe(true)
    })

    it.each([
      ['limit=0', 'limit'],
      ['limit=1001', 'limit'],
      ['limit=ten', 'limit'],
      ['client=', 'client'],
      ['task=' + 'x'.repeat(129), 'task'],
      ['owner=me', 'owner'],
      ['client=a&client=b', 'client: must not be repeated'],
    ])('refuses ?%s naming the parameter', async (query, named) => {
      const res = await adminGet(`/admin/grants?${query}`)
      expect(res.status).toBe(400)
      const body = await res.json()
      expect(body.error).toBe('invalid_request')
      expect(body.error_description).toContain(named)
    })
  })

  describe('GET /admin/grants/{id}', () => {
    it('shows a live grant in full, then its tombstone', async () => {
      const grant = await approvedGrant('agent-b', 'carol@example.com')
      const live = await (await adminGet(`/admin/grants/${grant.id}`)).json()
      expect(live).toEqual({
        state: 'live',
        grant: {
          id: grant.id,
          client_id: 'agent-b',
          task: grant.task,
          manifest_sha256: grant.manifestSha256,
          authorization_details: grant.authorizationDetails,
          rule_ids: ['deploy-prod'],
          approval: {
            id: grant.approval!.id,
            manifest_sha256: grant.manifestSha256,
            approvers: [
              {
                sub: 'carol@example.com',
                aaguid: 'ee882879-721c-4913-9775-3dfcce97072a',
                credential_id: 'cred-0',
                at: grant.issuedAt,
              },
            ],
          },
          issued_at: grant.issuedAt,
          expires_at: grant.expiresAt,
        },
        children: [],
      })
      expect((await revoke({ grant_id: grant.id, reason: 'rotated key' })).status).toBe(200)
      const dead = await (await adminGet(`/admin/grants/${grant.id}`)).json()
      expect(dead).toEqual({
        state: 'revoked',
        revocation: {
          grant_id: grant.id,
          client_id: 'agent-b',
          revoked_by: 'admin',
          reason: 'rotated key',
          revoked_at: epochSeconds(broker.clock),
          expires_at: grant.expiresAt,
        },
        children: [],
      })
    })

    it('answers 404 for an unknown grant and 400 for an absurd id', async () => {
      const unknown = await adminGet(`/admin/grants/${randomUUID()}`)
      expect(unknown.status).toBe(404)
      expect((await unknown.json()).error).toBe('not_found')
      const long = await adminGet(`/admin/grants/${'x'.repeat(129)}`)
      expect(long.status).toBe(400)
      expect((await long.json()).error_description).toContain('id')
    })
  })

  describe('POST /admin/revocations', () => {
    it('revokes one grant by id: introspection turns inactive at once, the tombstone says why', async () => {
      const t = await issue(A)
      const other = await issue(A)
      const from = messages.length
      const res = await revoke({ grant_id: t.grant_id, reason: 'leaked in a CI log' })
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ revoked: 1, descendants_revoked: 0, approvals_revoked: 0 })
      expect(res.headers.get('cache-control')).toBe('no-store')
      expect(await active(t.access_token)).toBe(false)
      expect(await active(other.access_token)).toBe(true)
      const state = await broker.store.grants.getGrant('agent-a', t.grant_id)
      expect(state).toMatchObject({
        state: 'revoked',
        revocation: { by: 'admin', reason: 'leaked in a CI log', at: epochSeconds(broker.clock) },
      })
      const published = await heard(from, [t.grant_id])
      expect(published.find((m) => idsIn([m]).includes(t.grant_id))).toEqual({
        v: 1,
        grants: [{ id: t.grant_id, clientId: 'agent-a', exp: expect.any(Number) }],
      })
      // Idempotent: nothing live is left to revoke.
      expect(await (await revoke({ grant_id: t.grant_id, reason: 'again' })).json()).toEqual({
        revoked: 0,
        descendants_revoked: 0,
        approvals_revoked: 0,
      })
      expect(await (await revoke({ grant_id: randomUUID(), reason: 'x' })).json()).toEqual({
        revoked: 0,
        descendants_revoked: 0,
        approvals_revoked: 0,
      })
    })

    it("revokes a task's grants across clients", async () => {
      const task = `T-${randomUUID()}`
      const tokens = [await issue(A, task), await issue(A, task), await issue(B, task)]
      const spared = await issue(A)
      const from = messages.length
      const res = await revoke({ task_id: task, reason: 'task cancelled' })
      expect(await res.json()).toEqual({ revoked: 3, descendants_revoked: 0, approvals_revoked: 0 })
      for (const t of tokens) expect(await active(t.access_token)).toBe(false)
      expect(await active(spared.access_token)).toBe(true)
      await heard(from, tokens.map((t) => t.grant_id))
    })

    it("revokes every grant of one client, and only that client's", async () => {
      const bTokens = [await issue(B), await issue(B)]
      const aToken = await issue(A)
      const live = (await (await adminGet('/admin/grants?client=agent-b')).json()).total
      const from = messages.length
      const res = await revoke({ client_id: 'agent-b', reason: 'runtime compromised' })
      expect(await res.json()).toEqual({ revoked: live, descendants_revoked: 0, approvals_revoked: 0 })
      for (const t of bTokens) expect(await active(t.access_token)).toBe(false)
      expect(await active(aToken.access_token)).toBe(true)
      await heard(from, bTokens.map((t) => t.grant_id))
      const after = await (await adminGet('/admin/grants?client=agent-b')).json()
      expect(after.total).toBe(0)
    })

    it('revokes every grant an approver approved, whatever the client', async () => {
      const dave = `dave+${randomUUID()}@example.com`
      const approved = [
        await approvedGrant('agent-a', dave),
        await approvedGrant('agent-b', 'erin@example.com', dave),
      ]
      const spared = await approvedGrant('agent-a', 'erin@example.com')
      const from = messages.length
      const res = await revoke({ approver: dave, reason: 'security key lost' })
      expect(await res.json()).toEqual({ revoked: 2, descendants_revoked: 0, approvals_revoked: 0 })
      for (const g of approved) {
        const body = await (await adminGet(`/admin/grants/${g.id}`)).json()
        expect(body).toMatchObject({
          state: 'revoked',
          revocation: { reason: 'security key lost' },
        })
      }
      expect((await (await adminGet(`/admin/grants/${spared.id}`)).json()).state).toBe('live')
      await heard(from, approved.map((g) => g.id))
    })

    describe('refuses bad bodies, revoking nothing', () => {
      let witness: { access_token: string }
      beforeAll(async () => {
        witness = await issue(A)
      })

      it.each([
        ['no target', { reason: 'x' }, 'exactly one of grant_id, task_id, client_id, approver'],
        ['two targets', { client_id: 'agent-a', all: true, reason: 'x' }, 'got client_id, all'],
        ['no reason', { client_id: 'agent-a' }, 'reason: required'],
        ['an empty reason', { client_id: 'agent-a', reason: '   ' }, 'reason: must not be empty'],
        ['a long reason', { client_id: 'agent-a', reason: 'r'.repeat(513) }, 'reason: at most 512'],
        ['all: false', { all: false, reason: 'x' }, 'all: expected true'],
        ['a number as grant_id', { grant_id: 7, reason: 'x' }, 'grant_id: expected a string'],
        ['an unknown field', { client_id: 'agent-a', reason: 'x', force: true }, 'force'],
        ['an array', [{ all: true, reason: 'x' }], 'body: expected a JSON object'],
        ['null', null, 'body: expected a JSON object'],
      ])('%s', async (_name, body, named) => {
        const res = await revoke(body)
        expect(res.status).toBe(400)
        const error = await res.json()
        expect(error.error).toBe('invalid_request')
        expect(error.error_description).toContain(named)
        expect(await active(witness.access_token)).toBe(true)
      })

      it('refuses malformed JSON and other media types', async () => {
        const broken = await revoke(null, {
          headers: { 'content-type': 'application/json' },
          body: '{"all": true, "reason": "x"',
        })
        expect(broken.status).toBe(400)
        expect((await broken.json()).error_description).toContain('not valid JSON')
        const asForm = await revoke(null, form({ all: 'true', reason: 'x' }))
        expect(asForm.status).toBe(400)
        expect((await asForm.json()).error_description).toContain('content-type')
        const huge = await revoke({ all: true, reason: 'x', pad: 'p'.repeat(70_000) })
        expect(huge.status).toBe(413)
        expect(await active(witness.access_token)).toBe(true)
      })
    })

    it('revokes everything, telling verifiers to drop their caches first', async () => {
      const tokens = [await issue(A), await issue(B)]
      const approved = await approvedGrant('agent-b', 'frank@example.com')
      const total = (await (await adminGet('/admin/grants?limit=1000')).json()).total
      expect(total).toBeGreaterThanOrEqual(3)
      const from = messages.length
      const res = await revoke({ all: true, reason: 'incident 42' })
      expect(await res.json()).toEqual({ revoked: total, descendants_revoked: 0, approvals_revoked: 0 })
      for (const t of tokens) expect(await active(t.access_token)).toBe(false)
      const revokedIds = [...tokens.map((t) => t.grant_id), approved.id]
      const published = await heard(from, revokedIds)
      const announced = published.findIndex((m) => 'all' in m)
      const firstBatch = published.findIndex((m) =>
        idsIn([m]).some((id) => revokedIds.includes(id)),
      )
      expect(announced).toBeGreaterThanOrEqual(0)
      expect(announced).toBeLessThan(firstBatch)
      expect(await (await adminGet('/admin/grants')).json()).toEqual({
        grants: [],
        total: 0,
        truncated: false,
      })
      expect(await (await revoke({ all: true, reason: 'again' })).json()).toEqual({ revoked: 0, descendants_revoked: 0, approvals_revoked: 0 })
    })
  })

  describe('POST /admin/keys/rotate', () => {
    const rotate = (body: unknown) =>
      broker.call('POST', '/admin/keys/rotate', {
        headers: { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })

    it.each([
      ['force (which promoted the pre-generated next key)', { force: true }, 'force: no longer accepted'],
      ['a reason without compromised', { reason: 'leak' }, 'reason: only with "compromised": true'],
      ['compromised as a string', { compromised: 'yes' }, 'compromised: expected a boolean'],
      ['an empty reason', { compromised: true, reason: '  ' }, 'reason: must not be empty'],
      ['an unknown field', { compromised: true, now: 1 }, 'now'],
    ])('refuses %s with a 400 naming the field, rotating and revoking nothing', async (_name, body, named) => {
      const before = broker.keys.list()
      const witness = await issue(A)
      const res = await rotate(body)
      expect(res.status).toBe(400)
      const error = await res.json()
      expect(error.error).toBe('invalid_request')
      expect(error.error_description).toContain(named)
      expect(broker.keys.list()).toEqual(before)
      expect(await active(witness.access_token)).toBe(true)
    })
  })
})
