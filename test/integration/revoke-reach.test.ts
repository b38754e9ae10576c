import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdminToken } from '../../src/admin/index.js'
import { createVerifier, type Verifier } from '../../src/verifier/index.js'
import { docsManifest, ISSUER, SECRETS } from '../helpers/broker.js'
import { runCli } from '../helpers/cli.js'
import { startHttpBroker, type HttpBroker } from '../helpers/http-broker.js'
import { AGENT_C_SECRET, policyWithoutAgentB } from '../helpers/policy-change.js'
import { eventually } from '../helpers/eventually.js'
import { deleteKeysWithPrefix } from '../helpers/redis.js'
import { outcome } from '../helpers/verifier.js'

/*
 * The attack: a client is compromised, so the operator removes it from the policy (a broker
 * restarted on the new policy, or one replica of several while the change rolls out) and runs
 * `writ revoke --all` (or `--task`). Every grant of the removed client must die with it: at
 * introspection and in a verifier on `redis` liveness. Two real brokers share one Redis: `oldB`
 * still runs the policy that declares `agent-b`; `newB` runs the policy without it, which adds
 * `agent-c` instead (so each replica lacks a client the other issues to).
 */

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const APP = 'https://git.example.com/acme/app'

type Creds = [string, string]
const A: Creds = ['agent-a', SECRETS['agent-a']]
const B: Creds = ['agent-b', SECRETS['agent-b']]
const C: Creds = ['agent-c', AGENT_C_SECRET]

const prefix = `writ-reach-${randomBytes(4).toString('hex')}:`
let oldB: HttpBroker
let newB: HttpBroker
let adminToken: string
let verifier: Verifier

beforeAll(async () => {
  const { token, tokenHash } = await createAdminToken()
  adminToken = token
  const shared = {
    issuer: ISSUER,
    admin: { tokenHash },
    store: { kind: 'redis' as const, redisUrl: REDIS_URL, keyPrefix: prefix },
    keys: { source: 'store' as const, kek: randomBytes(32).toString('base64') },
  }
  oldB = await startHttpBroker(shared)
  newB = await startHttpBroker(shared, { policyText: await policyWithoutAgentB() })
  verifier = createVerifier({
    issuer: ISSUER,
    audience: APP,
    jwksUri: `${oldB.url}/.well-known/jwks.json`,
    liveness: { mode: 'redis', redis: REDIS_URL, keyPrefix: prefix, cacheTtlSeconds: 3600 },
  })
  await eventually('the verifier subscribed', async () => {
    const status = verifier.status() as { mode: string; subscribed?: boolean }
    return status.mode === 'redis' && status.subscribed === true
  })
})

afterAll(async () => {
  await verifier?.close()
  await oldB?.close()
  await newB?.close()
  const redis = new Redis(REDIS_URL)
  await deleteKeysWithPrefix(redis, prefix)
  await redis.quit()
})


/** RFC 6749 §2.3.1 Basic credentials: each part form-encoded, then base64. */
const basic = ([id, secret]: Creds): string => {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+')
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`
}

/** A token for `client` from `broker`, for one read grant of `taskId`. */
async function issue(broker: HttpBroker, client: Creds, taskId: string) {
  const res = await fetch(`${broker.url}/v1/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: basic(client) },
    body: JSON.stringify(docsManifest({ task: { id: taskId }, grants: docsManifest().grants.slice(0, 1) })),
  })
  expect(res.status, await res.clone().text()).toBe(200)
  const body = (await res.json()) as { access_token: string; grant_id: string }
  return { token: body.access_token, grantId: body.grant_id }
}

/** RFC 7662 introspection of `token` by its own client, on `broker`. */
async function introspect(broker: HttpBroker, client: Creds, token: string): Promise<unknown> {
  const res = await fetch(`${broker.url}/oauth/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client) },
    body: new URLSearchParams({ token }).toString(),
  })
  expect(res.status).toBe(200)
  return res.json()
}

/** The verifier's answer for a token: 'ok' or the error code. */
const answer = (token: string): Promise<string> => outcome(verifier, token)

/** Runs the real `writ` CLI against `broker` with the admin token. */
const writ = (broker: HttpBroker, ...args: string[]) =>
  runCli(['--json', ...args], { WRIT_URL: broker.url, WRIT_ADMIN_TOKEN: adminToken })

/** The grant ids `writ grants ls` lists through `broker`. */
async function listed(broker: HttpBroker, ...args: string[]): Promise<string[]> {
  const res = await writ(broker, 'grants', 'ls', ...args)
  expect(res.code, res.stderr).toBe(0)
  return (JSON.parse(res.stdout) as Array<{ id: string }>).map((g) => g.id)
}

/** Asserts a token is dead everywhere: at introspection and, within the bound, in the verifier. */
async function expectDead(broker: HttpBroker, client: Creds, token: string): Promise<void> {
  expect(await introspect(broker, client, token)).toEqual({ active: false })
  await eventually('the verifier refuses the token', async () => (await answer(token)) === 'token_revoked')
}

describe('revocation reaches clients the policy in force no longer declares', () => {
  it('writ revoke --all through the replica without the client kills its tokens everywhere', async () => {
    const x = await issue(oldB, B, `INCIDENT-${randomBytes(3).toString('hex')}`)
    expect(await introspect(oldB, B, x.token)).toMatchObject({ active: true })
    // The verifier has the grant cached as live: only the revocation can drop it.
    expect(await answer(x.token)).toBe('ok')

    // The replica on the new policy lists the removed client's live grant.
    expect(await listed(newB)).toContain(x.grantId)
    expect(await listed(newB, '--client', 'agent-b')).toEqual([x.grantId])

    const res = await writ(newB, 'revoke', '--all', '--yes', '--reason', 'agent-b compromised')
    expect(res.code, res.stderr).toBe(0)
    expect((JSON.parse(res.stdout) as { revoked: number }).revoked).toBeGreaterThanOrEqual(1)

    await expectDead(oldB, B, x.token)
    expect(await listed(newB, '--client', 'agent-b')).toEqual([])
    expect(await listed(oldB)).toEqual([])
  })

  it('writ revoke --all through the replica without a newly added client reaches it too', async () => {
    const y = await issue(newB, C, `ROLL-${randomBytes(3).toString('hex')}`)
    const a = await issue(oldB, A, `ROLL-${randomBytes(3).toString('hex')}`)
    expect(await answer(y.token)).toBe('ok')
    expect(await listed(oldB)).toEqual(expect.arrayContaining([y.grantId, a.grantId]))

    const res = await writ(oldB, 'revoke', '--all', '--yes', '--reason', 'rolling incident')
    expect(res.code, res.stderr).toBe(0)
    expect(JSON.parse(res.stdout)).toEqual({ revoked: 2, descendants_revoked: 0, approvals_revoked: 0 })

    await expectDead(newB, C, y.token)
    await expectDead(oldB, A, a.token)
  })

  it('writ revoke --task through the replica without the client reaches its grants of the task', async () => {
    const task = `TASK-${randomBytes(3).toString('hex')}`
    const x = await issue(oldB, B, task)
    const a = await issue(newB, A, task)
    const spared = await issue(oldB, B, `OTHER-${randomBytes(3).toString('hex')}`)
    for (const t of [x, a, spared]) expect(await answer(t.token)).toBe('ok')
    expect((await listed(newB, '--task', task)).sort()).toEqual([x.grantId, a.grantId].sort())

    const res = await writ(newB, 'revoke', '--task', task, '--yes', '--reason', 'task compromised')
    expect(res.code, res.stderr).toBe(0)
    expect(JSON.parse(res.stdout)).toEqual({ revoked: 2, descendants_revoked: 0, approvals_revoked: 0 })

    await expectDead(oldB, B, x.token)
    await expectDead(newB, A, a.token)
    expect(await introspect(oldB, B, spared.token)).toMatchObject({ active: true })
    expect(await answer(spared.token)).toBe('ok')
  })
})
