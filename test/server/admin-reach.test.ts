import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdminToken } from '../../src/admin/index.js'
import { manualClock } from '../../src/clock.js'
import { createMemoryStore } from '../../src/open-store.js'
import {
  docsManifest,
  form,
  json,
  makeTestBroker,
  SECRETS,
  type TestBroker,
} from '../helpers/broker.js'
import { policyWithoutAgentB } from '../helpers/policy-change.js'
import { deleteKeysWithPrefix } from '../helpers/redis.js'

const A: [string, string] = ['agent-a', SECRETS['agent-a']]
const B: [string, string] = ['agent-b', SECRETS['agent-b']]
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/*
 * Two brokers on one store: `before` runs the test policy, `after` the policy without agent-b
 * (a compromised client removed from it). Everything goes through the admin API of `after`.
 */
describe.each(['memory', 'redis'] as const)(
  'admin API of a broker whose policy lacks a client, on the %s store',
  (kind) => {
    const prefix = `writ-admin-reach-${randomBytes(4).toString('hex')}:`
    let before: TestBroker
    let after: TestBroker
    let adminToken: string

    beforeAll(async () => {
      const admin = await createAdminToken()
      adminToken = admin.token
      const config = {
        admin: { tokenHash: admin.tokenHash },
        ...(kind === 'redis'
          ? {
              store: { kind: 'redis' as const, redisUrl: REDIS_URL, keyPrefix: prefix },
              keys: { source: 'store' as const, kek: randomBytes(32).toString('base64') },
            }
          : {}),
      }
      const store = kind === 'memory' ? createMemoryStore({ clock: manualClock(Date.now()) }) : undefined
      const shared = { config, ...(store ? { store } : {}) }
      before = await makeTestBroker(shared)
      after = await makeTestBroker({ ...shared, policyText: await policyWithoutAgentB() })
    })
    afterAll(async () => {
      await after?.close()
      await before?.close()
      if (kind !== 'redis') return
      const redis = new Redis(REDIS_URL)
      await deleteKeysWithPrefix(redis, prefix)
      await redis.quit()
    })

    const asAdmin = (init: RequestInit = {}): RequestInit => ({
      ...init,
      headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${adminToken}` },
    })

    const issue = async (client: [string, string], taskId: string) => {
      const manifest = docsManifest({ task: { id: taskId }, grants: docsManifest().grants.slice(0, 1) })
      const res = await before.call('POST', '/v1/tokens', { ...json(manifest), basic: client })
      expect(res.status).toBe(200)
      const body = await res.json()
      return { token: body.access_token as string, grantId: body.grant_id as string }
    }

    const active = async (client: [string, string], token: string): Promise<boolean> => {
      const res = await before.call('POST', '/oauth/introspect', { ...form({ token }), basic: client })
      return (await res.json()).active as boolean
    }

    const listed = async (query = ''): Promise<string[]> => {
      const res = await after.call('GET', `/admin/grants${query}`, asAdmin())
      expect(res.status).toBe(200)
      return ((await res.json()).grants as Array<{ id: string }>).map((g) => g.id)
    }

    const revoke = async (body: Record<string, unknown>): Promise<number> => {
      const res = await after.call('POST', '/admin/revocations', asAdmin(json(body)))
      expect(res.status).toBe(200)
      return (await res.json()).revoked as number
    }

    it('lists the removed client’s grants and revokes them by task', async () => {
      const task = `T-${randomBytes(3).toString('hex')}`
      const x = await issue(B, task)
      const a = await issue(A, task)
      const spared = await issue(B, `OTHER-${randomBytes(3).toString('hex')}`)
      expect(await listed()).toEqual(expect.arrayContaining([x.grantId, a.grantId, spared.grantId]))
      expect((await listed(`?task=${task}`)).sort()).toEqual([x.grantId, a.grantId].sort())

      expect(await revoke({ task_id: task, reason: 'task compromised' })).toBe(2)
      expect(await active(B, x.token)).toBe(false)
      expect(await active(A, a.token)).toBe(false)
      expect(await active(B, spared.token)).toBe(true)
    })

    it('revokes everything, the removed client’s grants included, and lists nothing after', async () => {
      const x = await issue(B, `ALL-${randomBytes(3).toString('hex')}`)
      expect(await listed('?client=agent-b')).toContain(x.grantId)
      expect(await revoke({ all: true, reason: 'agent-b compromised' })).toBeGreaterThanOrEqual(1)
      expect(await active(B, x.token)).toBe(false)
      expect(await listed()).toEqual([])
    })
  },
)
